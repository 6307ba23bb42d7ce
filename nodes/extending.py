"""StreamingT2V Extend: grow a video chunk by chunk on the user's own sampler, frames streamed to disk."""
from __future__ import annotations

import copy

import comfy.samplers
from comfy_api.latest import io

from ..st2v_modules.sampling.chunks import chunk_seed
from ..st2v_modules.sampling.prompt_schedule import parse_prompt_schedule
from ..st2v_modules.video_files.writer import FORMATS
from .extend_engine import Request, Sampling, extend, resume_start, seeded_noise
from .guiding import cfg_guider, describe_guider, guider_conds, like_guider
from .inputs import cfg_input, fps_input
from .schedulers import DDIM_SCHEDULER
from .streamingt2v_model import StreamingT2VType
from .video_output import file_metadata, finished, video_output
from .video_run import ALL_FRAMES, DECODE_DTYPES, FP32, OUTPUT_FRAMES

NOISE_MODES = ("fresh per chunk (official)", "shared across chunks")
OFFICIAL_STEPS = 50
DEFAULT_FRAMES_TO_ADD = 64  # the official 80-frame run: a 16-frame first chunk + 8 steps


def streamingt2v_input() -> StreamingT2VType.Input:
    return StreamingT2VType.Input("streamingt2v", tooltip="The STREAMINGT2V output of Load StreamingT2V.")


def chunk_inputs() -> list:
    return [
        io.ClipVision.Input("clip_vision", tooltip="OpenCLIP ViT-H/14 (the CLIP_VISION output of Load StreamingT2V)."),
        io.Vae.Input("vae", tooltip="The VAE that decodes each chunk (the VAE output of Load StreamingT2V)."),
        io.Image.Input("start_frames", tooltip="The video to extend (>= 8 frames): a ModelScope first chunk or any frames; "
                                               "its first frame is the appearance anchor, its last 8 condition the first new chunk."),
        io.Int.Input("frames_to_add", default=DEFAULT_FRAMES_TO_ADD, min=1, max=100000,
                     tooltip="New frames; 8 per chunk, a remainder is generated whole and trimmed."),
    ]


def output_inputs() -> list:
    return [
        io.String.Input("prompt_schedule", default="", multiline=True, optional=True,
                        tooltip="Prompt travel, e.g. '0: a cat walks | 240: the cat runs' (frame numbers of the whole video). "
                                "Empty: the positive prompt throughout. Needs the clip input."),
        io.Clip.Input("clip", optional=True, tooltip="Encodes the prompt schedule's prompts."),
        io.String.Input("filename_prefix", default="StreamingT2V/video", tooltip="Where the video goes, under the output folder."),
        io.Combo.Input("video_format", options=list(FORMATS), default=FORMATS[0],
                       tooltip="mp4: h264 written as each chunk finishes; png: a lossless numbered sequence."),
        fps_input(),
        io.Combo.Input("output_frames", options=list(OUTPUT_FRAMES), default=ALL_FRAMES,
                       tooltip="all: every frame as an IMAGE batch (RAM grows with length); last chunk: only the newest frames, "
                               "flat memory for very long videos (the file has them all)."),
        io.String.Input("resume_manifest", default="", optional=True,
                        tooltip="Resume: the .json written next to an earlier video, as its name under the output folder "
                                "(e.g. StreamingT2V/video_00001_.json), after a cancel, an error or a crash alike. Its frames "
                                "replace start_frames, its chunks are not recomputed; frames_to_add counts the new frames."),
        io.Int.Input("redo_from_chunk", default=-1, min=-1, max=100000, optional=True,
                     tooltip="With resume_manifest: -1 continues after the last finished chunk; k keeps chunks before k and "
                             "redoes the rest (e.g. with another seed or prompt)."),
        io.Combo.Input("vae_decode", options=list(DECODE_DTYPES), default=FP32, optional=True,
                       tooltip="fp32: each chunk is decoded in float32, as the official run; its frames condition the next "
                               "chunk, so rounding in a bf16/fp16 decode (ComfyUI's VAE default on GPUs) compounds along the "
                               "video. vae dtype: decode as the VAE was loaded (less VRAM)."),
    ]


def validate(frames_to_add: int = 1, prompt_schedule: str = "", **_) -> bool | str:
    """Refuse before anything runs or is written."""
    if frames_to_add is not None and frames_to_add <= 0:
        return f"frames_to_add is {frames_to_add}; add at least 1 frame (8 per chunk)."
    try:
        parse_prompt_schedule(prompt_schedule or "")
    except ValueError as e:
        return str(e)
    return True


class ExtendNode(io.ComfyNode):
    """What both forms share: inputs are checked before anything runs or is written."""

    @classmethod
    def validate_inputs(cls, **kwargs) -> bool | str:
        return validate(**kwargs)


OUTPUTS = [io.Image.Output(display_name="frames", tooltip="The video's frames (see output_frames)."),
           io.String.Output(display_name="video_path", tooltip="The finished video file (or PNG folder)."),
           video_output("The finished video as a VIDEO, for core Save Video, Get Video Components and other video nodes "
                        "(they read the file; its frames are not held in RAM).")]


def run(sampling: Sampling, seed: int, start_frames, prompt_schedule: str = "", clip=None, resume_manifest: str = "",
        redo_from_chunk: int = -1, hidden=None, **kwargs) -> io.NodeOutput:
    offset, resumed = 0, None
    if resume_manifest:
        start_frames, offset, _ = resume_start(resume_manifest, redo_from_chunk)
        resumed = resume_manifest
    request = Request(sampling=sampling, seed=seed, start=start_frames, clip=clip, chunk_offset=offset, resumed_from=resumed,
                      schedule=parse_prompt_schedule(prompt_schedule or ""), metadata=file_metadata(hidden), **kwargs)
    frames, path = extend(request)
    return finished(frames, path, request.fps)


class StreamingT2VExtend(ExtendNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_Extend",
            display_name="StreamingT2V Extend",
            category="StreamingT2V/sampling",
            description="Extends a video 8 frames at a time: each 16-frame chunk is conditioned on the last 8 frames by "
                        "the CAM and on the first frame by the APM. Defaults are the official run (DDIM eta 1 = "
                        f"euler_ancestral on the {DDIM_SCHEDULER} schedule, 50 steps, cfg 7.5).",
            inputs=[
                io.Model.Input("model", tooltip="The MODEL output of Load StreamingT2V (patches such as LoRA apply to every chunk)."),
                streamingt2v_input(),
                io.Conditioning.Input("positive", tooltip="The prompt, encoded by the StreamingT2V CLIP."),
                io.Conditioning.Input("negative", tooltip="The negative prompt (official: empty)."),
            ] + chunk_inputs() + [
                io.Int.Input("seed", default=33, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Run seed; chunk k samples with a seed derived from it and k (recorded in the manifest)."),
                io.Int.Input("steps", default=OFFICIAL_STEPS, min=1, max=1000, tooltip="Sampler steps per chunk (official: 50)."),
                cfg_input(),
                io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, default="euler_ancestral",
                               tooltip=f"euler_ancestral with the {DDIM_SCHEDULER} scheduler is the official DDIM with eta 1."),
                io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS, default=DDIM_SCHEDULER,
                               tooltip=f"{DDIM_SCHEDULER}: the official DDIM timesteps (981 ... 1, ending at t=0)."),
                io.Combo.Input("noise_mode", options=list(NOISE_MODES), default=NOISE_MODES[0],
                               tooltip="fresh: new noise per chunk, as the official code really runs; shared: one noise tensor for all chunks."),
            ] + output_inputs(),
            outputs=OUTPUTS,
            is_output_node=True,
        )

    @classmethod
    def execute(cls, model, positive, negative, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
                noise_mode: str, **kwargs) -> io.NodeOutput:
        sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler, steps).cpu()
        sampling = Sampling(comfy.samplers.sampler_object(sampler_name), sigmas, cfg_guider(cfg),
                            seeded_noise(seed, noise_mode == NOISE_MODES[1]), scheduler == DDIM_SCHEDULER,
                            {"sampler": sampler_name, "scheduler": scheduler, "steps": steps, "cfg": cfg, "noise_mode": noise_mode})
        return run(sampling, seed, model=model, conds={"positive": positive, "negative": negative}, hidden=cls.hidden, **kwargs)


class StreamingT2VExtendAdvanced(ExtendNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_ExtendAdvanced",
            display_name="StreamingT2V Extend (Advanced)",
            category="StreamingT2V/sampling",
            description="StreamingT2V Extend with the sampling pieces of SamplerCustomAdvanced: any NOISE, GUIDER, SAMPLER "
                        "and SIGMAS drive every chunk. Build the GUIDER (CFGGuider, DualCFGGuider, PerpNegGuider, ...) on "
                        "Load StreamingT2V's MODEL with the prompts; each chunk adds the anchor's image tokens to every "
                        "conditioning (the grey image's to the negative ones) and the CAM frames.",
            inputs=[
                io.Guider.Input("guider", tooltip="A GUIDER on the MODEL of Load StreamingT2V, e.g. core CFGGuider with the "
                                                  "prompts encoded by its CLIP."),
                streamingt2v_input(),
            ] + chunk_inputs() + [
                io.Noise.Input("noise", tooltip="Random Noise: its seed is the run seed; each chunk derives its own unless shared."),
                io.Sampler.Input("sampler", tooltip="Any SAMPLER, e.g. from KSamplerSelect."),
                io.Sigmas.Input("sigmas", tooltip="Any SIGMAS, e.g. from BasicScheduler; the same for every chunk."),
                io.Combo.Input("noise_mode", options=list(NOISE_MODES), default=NOISE_MODES[0],
                               tooltip="fresh: the NOISE reseeded per chunk; shared: the same noise for every chunk."),
            ] + output_inputs(),
            outputs=OUTPUTS,
            is_output_node=True,
        )

    @classmethod
    def execute(cls, guider, noise, sampler, sigmas, noise_mode: str, **kwargs) -> io.NodeOutput:
        conds = guider_conds(guider)
        if "positive" not in conds:
            raise ValueError(f"guider: {type(guider).__name__} has no positive conditioning; use a guider that takes the "
                             "prompt, e.g. core CFGGuider.")
        seed = getattr(noise, "seed", 0)
        shared = noise_mode == NOISE_MODES[1]

        def chunk_noise(chunk: int, latent):
            source = noise
            if not shared and hasattr(noise, "seed"):
                source = copy.copy(noise)
                source.seed = chunk_seed(seed, chunk)
            return source.generate_noise({"samples": latent})

        sampling = Sampling(sampler, sigmas.cpu(), like_guider(guider), chunk_noise, False,
                            {**describe_guider(guider), "noise_mode": noise_mode, "steps": len(sigmas) - 1})
        return run(sampling, seed, model=guider.model_patcher, conds=conds, hidden=cls.hidden, **kwargs)
