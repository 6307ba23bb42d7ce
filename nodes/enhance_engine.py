"""The enhancer on the host: frames to the 720p canvas and to latents in windows, one sampler run over the whole
latent video with randomized blending inside the guider, then decode in windows straight to the video file."""
from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

import comfy.model_management as mm
import comfy.samplers
import node_helpers

from ..st2v_modules.sampling.blending import PAD_FRAMES, BlendPlan, blend_chunks, draw_cuts, enhanced_length, rescaled_guidance
from ..st2v_modules.sampling.canvas import Placement, check_canvas_size, crop_output, place, to_canvas
from ..st2v_modules.sampling.frames import LATENT_CHANNELS, VAE_FACTOR
from ..st2v_modules.video_files.writer import VideoWriter
from .guiding import Conds, GuiderFactory
from .video_run import ALL_FRAMES, FrameStore, Progress, frames_bytes, free_disk_bytes, output_base, refuse_frames_beyond_ram

LATENT_BYTES_PER_FRAME_AND_PIXEL = 4 * 4 * 6  # fp32 latents: clean, noise, x, x0 and two sampler buffers


@dataclass
class EnhanceRequest:
    frames: torch.Tensor  # IMAGE [F, H, W, 3]
    vae: object
    conds: Conds  # the prompts by the guider's names
    guider: GuiderFactory
    canvas: tuple[int, int]
    fit: str
    length_mode: str
    chunk: int
    overlap: int
    seed: int
    filename_prefix: str
    video_format: str
    output_frames: str
    fps: float
    metadata: dict[str, str] | None = None  # embedded in the file (the prompt and workflow)


def blended(guider: comfy.samplers.CFGGuider, plan: BlendPlan, seed: int,
            cuts: Callable[[BlendPlan], list[int]] | None = None) -> comfy.samplers.CFGGuider:
    """A copy of the guider that predicts chunk by chunk, the chunks merged by randomized blending, so any core sampler
    denoises the whole video with the user's guidance. Cuts are drawn anew at every model evaluation, from `seed`
    (or from `cuts`, e.g. the official run's)."""
    out = copy.copy(guider)
    predict = out.predict_noise  # the guider's own prediction, bound to the copy that samples
    generator = torch.Generator().manual_seed(seed)
    draw = cuts or (lambda plan: draw_cuts(plan, generator))

    def predict_noise(x, timestep, model_options={}, seed=None):
        def chunk(start: int, end: int) -> torch.Tensor:
            t = timestep[start:end] if timestep.ndim and timestep.shape[0] == x.shape[0] else timestep
            return predict(x[start:end], t, model_options, seed)
        return blend_chunks(chunk, plan, draw(plan), x)

    out.predict_noise = predict_noise
    return out


def rescaled_cfg(rescale: float):
    """The official guidance rescale as a `sampler_cfg_function`: on v, spread taken over the whole chunk."""
    def cfg(args: dict) -> torch.Tensor:
        x, sigma = args["input"], args["sigma"]
        zero_v = args["model"].model_sampling.calculate_denoised(sigma, torch.zeros_like(x), x)
        guided = rescaled_guidance(zero_v - args["cond_denoised"], zero_v - args["uncond_denoised"], args["cond_scale"], rescale)
        return x - (zero_v - guided)
    return cfg


def enhancer_model(model, rescale: float):
    """The MODEL with the official guidance rescale (skipped at 0, leaving plain cfg or the user's own patch)."""
    if not rescale:
        return model
    model = model.clone()
    model.set_model_sampler_cfg_function(rescaled_cfg(rescale))
    return model


def video_length(frames: int, request: EnhanceRequest) -> int:
    """Frames that are enhanced: the official trim, or padded so no frame is lost; a short video is always padded."""
    length = enhanced_length(frames, request.length_mode == PAD_FRAMES, request.chunk, request.overlap)
    if frames < request.chunk:
        logging.info("StreamingT2V Enhance: %d frames are fewer than one %d-frame chunk; padding with the last frame.",
                     frames, request.chunk)
    elif length < frames:
        logging.info("StreamingT2V Enhance: keeping the first %d of %d frames (the official trim to whole chunks; "
                     "choose '%s' to keep them all).", length, frames, PAD_FRAMES)
    return length


def enhance(request: EnhanceRequest, model, noise, sampler, sigmas: torch.Tensor) -> tuple[torch.Tensor, str]:
    """Returns the frames asked for and the finished video's path."""
    frames = request.frames
    check_canvas_size(*request.canvas, downsamples=len(model.model.diffusion_model.config.block_out_channels) - 1)
    placement = place((frames.shape[2], frames.shape[1]), request.canvas, request.fit)
    length = video_length(frames.shape[0], request)
    kept = min(length, frames.shape[0])
    plan = BlendPlan(length, request.chunk, request.overlap)
    steps = len(sigmas) - 1
    base = output_base(request.filename_prefix, *placement.output_size)
    preflight(request, placement, plan, base)
    progress = Progress(model, length + steps + kept, request.fps)
    mm.load_models_gpu([model, request.vae.patcher])
    latent = encode(frames, length, placement, request, progress)
    samples = sample(request, model, noise, sampler, sigmas, plan, latent, progress)
    del latent
    writer = VideoWriter(base, request.video_format, request.fps, request.metadata)
    output = FrameStore(request.output_frames, kept, frames[:0].new_empty((0,) + _frame_shape(placement)))
    try:
        decode(samples, kept, placement, request, writer, output, progress)
    except BaseException:
        path = writer.close()
        logging.warning("StreamingT2V Enhance: stopped; the %d frames decoded so far are in %s", writer.frames, path)
        raise
    return output.result(), writer.finish()


def _frame_shape(placement: Placement) -> tuple[int, int, int]:
    width, height = placement.output_size
    return height, width, 3


def encode(frames: torch.Tensor, length: int, placement: Placement, request: EnhanceRequest, progress: Progress) -> torch.Tensor:
    """Latents of the whole video, one chunk of canvas pixels at a time (frames past the end repeat the last one)."""
    width, height = placement.canvas
    latent = torch.empty((length, LATENT_CHANNELS, height // VAE_FACTOR, width // VAE_FACTOR))
    for start in range(0, length, request.chunk):
        index = torch.arange(start, min(start + request.chunk, length)).clamp(max=frames.shape[0] - 1)
        latent[start:start + len(index)] = request.vae.encode(to_canvas(frames[index], placement)).float().cpu()
        progress.advance(len(index))
    return latent


def sample(request: EnhanceRequest, model, noise, sampler, sigmas: torch.Tensor, plan: BlendPlan, latent: torch.Tensor,
           progress: Progress) -> torch.Tensor:
    """One run of the user's sampler over the whole latent video; the start is scaled as the official code does
    (in place: `latent` is the caller's to give up)."""
    start_scale = sigmas[0] / (1 + sigmas[0] ** 2).sqrt()  # spec 3.3: the sampler starts at sigma_vp * (x0 + sigma * n)
    conds = {name: node_helpers.conditioning_set_values(c, {"video_frames": request.chunk}) for name, c in request.conds.items()}
    guider = blended(request.guider(model, conds), plan, request.seed)
    noise_tensor = noise.generate_noise({"samples": latent}).mul_(start_scale)
    with progress.sampling(current_window(plan)) as callback:
        return guider.sample(noise_tensor, latent.mul_(start_scale), sampler, sigmas, callback=callback, disable_pbar=True,
                             seed=getattr(noise, "seed", 0))


def current_window(plan: BlendPlan) -> Callable[[int, torch.Tensor], torch.Tensor]:
    """What the preview shows: one chunk of the video, the next one at every step, so the whole video is seen refining."""
    return lambda step, x0: x0[plan.starts[step % len(plan.starts)]:][:plan.chunk]


def decode(samples: torch.Tensor, kept: int, placement: Placement, request: EnhanceRequest, writer: VideoWriter,
           output: FrameStore, progress: Progress) -> None:
    """Final frames to the file a chunk at a time; the host's VAE falls back to tiled decoding when VRAM is short."""
    for start in range(0, kept, request.chunk):
        mm.throw_exception_if_processing_interrupted()
        window = samples[start:min(start + request.chunk, kept)]
        frames = crop_output(request.vae.decode(window.to(mm.intermediate_device())), placement)
        writer.write(frames)
        output.add(frames)
        progress.advance(window.shape[0])


def preflight(request: EnhanceRequest, placement: Placement, plan: BlendPlan, base: str) -> None:
    width, height = placement.output_size
    length = plan.frames
    latents = length * (placement.canvas[0] // VAE_FACTOR) * (placement.canvas[1] // VAE_FACTOR) * LATENT_BYTES_PER_FRAME_AND_PIXEL
    held = length if request.output_frames == ALL_FRAMES else request.chunk
    logging.info("StreamingT2V Enhance pre-flight: %d frames at %dx%d in %d chunks of %d (overlap %d); latents %.2f GB, "
                 "output frames %.2f GB RAM; %.1f GB free on disk", length, width, height, len(plan.starts),
                 plan.chunk, plan.overlap, latents / 1e9, frames_bytes(held, width, height) / 1e9, free_disk_bytes(base) / 1e9)
    if request.output_frames == ALL_FRAMES:
        refuse_frames_beyond_ram(length, width, height, "enhanced frames")
