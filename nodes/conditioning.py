"""StreamingT2V Conditioning: turns a MODEL and prompts into what any core sampler needs to denoise one chunk."""
from __future__ import annotations

import torch

import comfy.model_management as mm
import node_helpers
from comfy_api.latest import io

from ..st2v_modules.models.clip_pixels import official_clip_pixels
from ..st2v_modules.sampling.chunks import CONDITION_FRAMES
from ..st2v_modules.sampling.frames import check_video_frames
from .model import ModelScopeT2V
from .prompts import first_block
from .streamingt2v_model import CAM_FEATURES, CAM_OPTION, CAMHandle, StreamingT2V, StreamingT2VModel, StreamingT2VType

UNCONDITIONAL_GREY = 0.5  # the official unconditional image is all zeros in [-1, 1]


class StreamingT2VConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_Conditioning",
            display_name="StreamingT2V Conditioning",
            category="StreamingT2V/conditioning",
            description="Conditions one 16-frame chunk: the CAM reads the last 8 frames of the previous chunk, the APM "
                        "the anchor frame. Wire the outputs into any core sampler with a 16-frame latent.",
            inputs=[
                io.Model.Input("model", tooltip="The MODEL output of Load StreamingT2V."),
                StreamingT2VType.Input("streamingt2v", tooltip="The STREAMINGT2V output of Load StreamingT2V (CAM and APM)."),
                io.Conditioning.Input("positive", tooltip="The prompt, encoded by the StreamingT2V CLIP."),
                io.Conditioning.Input("negative", tooltip="The negative prompt (official: empty)."),
                io.ClipVision.Input("clip_vision", tooltip="OpenCLIP ViT-H/14 image encoder (the CLIP_VISION output of Load StreamingT2V)."),
                io.Image.Input("anchor_image", tooltip="The appearance anchor; official: the first frame of the first chunk."),
                io.Image.Input("condition_frames", tooltip=f"The previous chunk's frames; its last {CONDITION_FRAMES} condition the new chunk."),
            ],
            outputs=[
                io.Model.Output(tooltip="The MODEL with the CAM attached for this chunk."),
                io.Conditioning.Output(display_name="positive", tooltip="Prompt + anchor image tokens + CAM frames."),
                io.Conditioning.Output(display_name="negative", tooltip="Negative prompt + grey-image tokens + the same CAM frames."),
            ],
        )

    @classmethod
    def execute(cls, model, streamingt2v: StreamingT2V, positive, negative, clip_vision, anchor_image: torch.Tensor,
                condition_frames: torch.Tensor) -> io.NodeOutput:
        require_streamingt2v_model(model)
        frames = check_condition_frames(condition_frames)
        cond_tokens, uncond_tokens = anchor_tokens(streamingt2v, clip_vision, anchor_image)
        features = frame_features(streamingt2v, frames)
        return io.NodeOutput(attach_cam(model, streamingt2v), with_chunk_conditions(positive, cond_tokens, features),
                             with_chunk_conditions(negative, uncond_tokens, features))


def anchor_tokens(streamingt2v: StreamingT2V, clip_vision, anchor_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """APM tokens of the anchor frame and of the official unconditional (mid-grey) image, `[1, 16, 1024]` each."""
    require_clip_vision(clip_vision)
    grey = torch.full_like(anchor_image[:1], UNCONDITIONAL_GREY)
    embeds = image_embeds(clip_vision, torch.cat([anchor_image[:1], grey]))
    conditioner, device = _loaded(streamingt2v)
    tokens = conditioner.image_tokens(embeds.to(device, conditioner.dtype), batch_size=2).to(mm.intermediate_device())
    return tokens[:1], tokens[1:]


def image_embeds(clip_vision, images: torch.Tensor) -> torch.Tensor:
    """The vision tower's pooled, projected embedding (the APM's input) of the official float pixels: the host's
    `encode_image` would resize differently (no aligned corners) and round to 8 bits."""
    mm.load_model_gpu(clip_vision.patcher)
    pixels = official_clip_pixels(images.to(clip_vision.load_device))
    return clip_vision.model(pixel_values=pixels)[2].to(mm.intermediate_device())


def require_clip_vision(clip_vision) -> None:
    if clip_vision is None:
        raise ValueError("clip_vision is empty: this checkpoint holds no image encoder; load OpenCLIP ViT-H/14 with Load CLIP Vision.")


def require_streamingt2v_model(model) -> None:
    """Only StreamingT2V's UNet reads the CAM and the APM tokens; any other MODEL would run and silently ignore them."""
    if isinstance(model.model, StreamingT2VModel):
        return
    what = ("the ModelScope T2V MODEL (the first-chunk model)" if type(model.model) is ModelScopeT2V
            else f"a {type(model.model).__name__} MODEL")
    raise ValueError(f"model: this is {what}, which has no StreamingT2V CAM and APM inputs and would ignore the start "
                     "frames; connect the MODEL output of Load StreamingT2V (for Extend (Advanced): build the guider on it).")


def frame_features(streamingt2v: StreamingT2V, frames: torch.Tensor) -> torch.Tensor:
    """CAM features of conditioning frames (IMAGE, 0..1), computed once per chunk."""
    conditioner, device = _loaded(streamingt2v)
    # one memory layout whatever the frames' strides (a VAE decode's view, frames read back for a resume): convolutions
    # pick their algorithm by layout, and a resumed run must compute exactly what the uninterrupted one did
    pixels = frames.movedim(-1, 1).contiguous().to(device, conditioner.dtype) * 2 - 1
    return conditioner.frame_features(pixels).to(mm.intermediate_device())


def _loaded(streamingt2v: StreamingT2V):
    mm.load_models_gpu([streamingt2v.patcher])
    return streamingt2v.conditioner, streamingt2v.patcher.load_device


def attach_cam(model, streamingt2v: StreamingT2V):
    """A clone of the MODEL that runs the CAM each step and loads it with itself."""
    patched = model.clone()
    patched.set_additional_models("streamingt2v", [streamingt2v.patcher])
    patched.model_options.setdefault("transformer_options", {})[CAM_OPTION] = CAMHandle(streamingt2v.conditioner.cam)
    return patched


def check_condition_frames(frames: torch.Tensor) -> torch.Tensor:
    return check_video_frames(frames, "condition_frames", CONDITION_FRAMES)[-CONDITION_FRAMES:]


def with_chunk_conditions(conditioning: list, image_tokens: torch.Tensor, cam_features: torch.Tensor) -> list:
    """Append the 16 image tokens to the 77 text tokens (the official 93-token context) and attach the CAM features."""
    out = []
    for text, extras in conditioning:
        text = first_block(text, "the extension")
        context = torch.cat([text, image_tokens.to(text.dtype).expand(text.shape[0], -1, -1)], dim=1)
        out.append([context, extras.copy()])
    return node_helpers.conditioning_set_values(out, {CAM_FEATURES: cam_features})
