"""Video Metrics: the paper's numbers (MAWE, CLIP text score) and per-chunk drift curves of any IMAGE batch."""
from __future__ import annotations

import torch

import comfy.model_management
import comfy.utils
from comfy_api.latest import io

from ..st2v_modules.metrics import (
    OFFICIAL_COEFF,
    OFFICIAL_SIZE,
    RAFT_FILE,
    RaftFlow,
    check_flow_size,
    check_video,
    drift_plot,
    load_raft,
    measure_video,
    to_json,
)
from . import paths

NO_FLOW = "none (skip MAWE)"
CLIP_VISION_BATCH = 16  # frames per CLIP vision call: memory stays flat for long videos
FULL_TEXT_ENCODER = ("a full OpenCLIP ViT-H/14 text encoder with its text projection, e.g. the CLIP output of an SD 2.x "
                     "checkpoint, or Load CLIP (type stable_diffusion) on laion's CLIP-ViT-H-14 open_clip_pytorch_model.bin")


class VideoMetrics(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_VideoMetrics",
            display_name="Video Metrics",
            category="StreamingT2V/metrics",
            description="Scores a video the way the StreamingT2V paper does: MAWE (motion-aware warp error, lower is "
                        "better) from RAFT optical flow, and the CLIP text score (100 x cosine of frame and prompt). Also "
                        "draws per-chunk drift curves (first 16 frames, then 8 per chunk): brightness, colour, distance "
                        "from the first frame, motion. Numbers as JSON (wire to Preview Any), curves as an image.",
            inputs=[
                io.Image.Input("images", tooltip="The video's frames, e.g. the frames output of StreamingT2V Extend (all "
                                                 "frames) or of Load Video. At least 2."),
                io.Combo.Input("flow_weights", options=paths.model_files(paths.FLOW_FOLDER) + [NO_FLOW],
                               tooltip=f"RAFT-large weights for MAWE in models/{paths.FLOW_FOLDER}: torchvision's {RAFT_FILE} "
                                       f"(Download Models: raft_large). '{NO_FLOW}': drift and CLIP only."),
                io.Int.Input("mawe_size", default=OFFICIAL_SIZE, min=128, max=4096, step=8,
                             tooltip="Frames are resized to this square size for the flow (official: 720). Smaller is "
                                     "much faster on CPU but no longer the paper's number."),
                io.Float.Input("mawe_coeff", default=OFFICIAL_COEFF, min=0.01, max=1000.0, step=0.1,
                               tooltip="c in MAWE = mean(warp error / (c x motion)) (official: 9.5)."),
                io.ClipVision.Input("clip_vision", optional=True,
                                    tooltip="OpenCLIP ViT-H/14 (the CLIP_VISION of Load StreamingT2V): adds each chunk's "
                                            "CLIP similarity to the first frame, and with prompt and clip the text score."),
                io.String.Input("prompt", default="", multiline=True, optional=True,
                                tooltip="The prompt the video was made from, for the CLIP text score (needs clip and clip_vision)."),
                io.Clip.Input("clip", optional=True,
                              tooltip=f"For the text score: {FULL_TEXT_ENCODER}. StreamingT2V's and ModelScope's text "
                                      "encoders cannot give it (they stop one layer early and have no projection)."),
            ],
            outputs=[
                io.String.Output(display_name="metrics", tooltip="JSON: mawe, warp_error, motion, clip_text_score, notes, "
                                                                 "per-chunk curves, drift (last chunk minus first), per-pair values."),
                io.Image.Output(display_name="plot", tooltip="The per-chunk curves, one panel each."),
            ],
        )

    @classmethod
    def validate_inputs(cls, flow_weights: str | None = None, mawe_size: int | None = None) -> bool | str:
        """Refuse before anything runs (values wired from other nodes arrive as None here and are checked later)."""
        missing = paths.check_model_files(cls.define_schema().display_name,
                                          {"flow_weights": None if flow_weights == NO_FLOW else flow_weights}, paths.FLOW_FOLDER)
        if missing is not True:
            return f"{missing} Or choose '{NO_FLOW}'."
        try:
            if mawe_size is not None:
                check_flow_size(mawe_size, "mawe_size")
        except ValueError as error:
            return str(error)
        return True

    @classmethod
    def execute(cls, images: torch.Tensor, flow_weights: str, mawe_size: int, mawe_coeff: float, clip_vision=None,
                prompt: str = "", clip=None) -> io.NodeOutput:
        check_video(images)
        text_embed = prompt_embedding(clip, prompt or "", clip_vision)
        image_embeds = frame_embeddings(clip_vision, images) if clip_vision is not None else None
        flow = None
        if flow_weights != NO_FLOW:
            check_flow_size(mawe_size, "mawe_size")
            device = comfy.model_management.get_torch_device()
            flow = RaftFlow(load_raft(paths.model_path(flow_weights, paths.FLOW_FOLDER), device), device)
        bar = comfy.utils.ProgressBar(max(len(images) - 1, 1))

        def progress(done: int, total: int) -> None:
            comfy.model_management.throw_exception_if_processing_interrupted()
            bar.update_absolute(done, total)

        report = measure_video(images, flow, mawe_size, mawe_coeff, image_embeds, text_embed, progress)
        plot = torch.from_numpy(drift_plot(report)).float().div(255).unsqueeze(0)
        return io.NodeOutput(to_json(report), plot)


def frame_embeddings(clip_vision, images: torch.Tensor) -> torch.Tensor:
    """`[N, D]` projected CLIP image embeddings, a few frames per call."""
    return torch.cat([clip_vision.encode_image(images[start:start + CLIP_VISION_BATCH]).image_embeds.float().cpu()
                      for start in range(0, len(images), CLIP_VISION_BATCH)])


def prompt_embedding(clip, prompt: str, clip_vision) -> torch.Tensor | None:
    """`[1, D]` projected CLIP text embedding of the prompt, or None when no text score was asked for."""
    if not prompt.strip() and clip is None:
        return None
    if clip is None:
        raise ValueError(f"prompt is set but clip is not connected: connect {FULL_TEXT_ENCODER}, or clear the prompt.")
    if not prompt.strip():
        raise ValueError("clip is connected but prompt is empty: type the prompt the video was made from, or disconnect clip.")
    if clip_vision is None:
        raise ValueError("the CLIP text score compares every frame with the prompt: connect clip_vision (OpenCLIP "
                         "ViT-H/14, e.g. the CLIP_VISION output of Load StreamingT2V).")
    if not has_text_projection(clip):
        raise ValueError(f"clip has no trained text projection, so it cannot place the prompt next to the images: connect "
                         f"{FULL_TEXT_ENCODER} (StreamingT2V's and ModelScope's text encoders lack it).")
    _, pooled = clip.encode_from_tokens(clip.tokenize(prompt), return_pooled=True)
    return pooled


def has_text_projection(clip) -> bool:
    """A loaded projection: the host leaves missing weights unset (NaN or near-zero memory) instead of failing."""
    weights = [p for name, p in clip.cond_stage_model.named_parameters() if name.endswith("text_projection.weight")]
    return bool(weights) and all(torch.isfinite(w).all() and w.float().std() > 1e-4 for w in weights)
