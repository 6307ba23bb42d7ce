"""The autoregressive extend loop on the host: per chunk condition, sample with the user's sampler, decode,
stream the new frames to disk. The arithmetic lives in st2v_modules.sampling.chunks."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable

import torch

import comfy.model_management as mm
import comfy.sample
import comfy.samplers
import folder_paths

from ..st2v_modules.sampling.chunks import CONDITION_FRAMES, EXTEND_CHUNK_FRAMES, NEW_FRAMES_PER_CHUNK, ChunkPlan, chunk_seed, plan_chunks
from ..st2v_modules.sampling.frames import LATENT_CHANNELS, VAE_FACTOR, check_video_frames
from ..st2v_modules.sampling.prompt_schedule import PromptSchedule
from ..st2v_modules.video_files.reader import read_video
from ..st2v_modules.video_files.resume_frames import SUFFIX as RESUME_SUFFIX
from ..st2v_modules.video_files.resume_frames import ResumeFrames, load_resume_frames, save_resume_frames
from ..st2v_modules.video_files.writer import MP4, VideoWriteError, VideoWriter, disk_full, write_failure
from .conditioning import (anchor_tokens, attach_cam, frame_features, require_clip_vision, require_streamingt2v_model,
                           with_chunk_conditions)
from .guiding import UNCONDITIONAL_CONDS, Conds, GuiderFactory
from .inputs import OFFICIAL_FPS
from .manifest import CANCELLED, COMPLETE, FAILED, Manifest, ManifestError, manifest_file, read_manifest
from .streamingt2v_model import StreamingT2V
from .video_run import (ALL_FRAMES, FP32, FrameStore, Progress, decoding_vae, frames_bytes, free_disk_bytes, output_base,
                        refuse_frames_beyond_ram)

MP4_BYTES_PER_PIXEL = 0.25  # generous for h264 at crf 17
PNG_BYTES_PER_PIXEL = 2.0


@dataclass
class Sampling:
    """How every chunk is denoised: the user's sampler, sigmas and guidance, and noise per chunk."""
    sampler: comfy.samplers.KSAMPLER
    sigmas: torch.Tensor
    guider: GuiderFactory
    noise: Callable[[int, torch.Tensor], torch.Tensor]  # (chunk, latent) -> noise
    official_ddim: bool = False
    describe: dict = field(default_factory=dict)


def seeded_noise(run_seed: int, shared: bool) -> Callable[[int, torch.Tensor], torch.Tensor]:
    """Fresh noise per chunk from the chunk's seed (what the official code really does), or one tensor for all."""
    return lambda chunk, latent: comfy.sample.prepare_noise(latent, run_seed if shared else chunk_seed(run_seed, chunk))


@dataclass
class Request:
    model: object
    streamingt2v: StreamingT2V
    conds: Conds  # the prompts by the guider's names: positive, negative (and e.g. middle for DualCFGGuider)
    clip_vision: object
    vae: object
    start: torch.Tensor
    frames_to_add: int
    sampling: Sampling
    filename_prefix: str
    video_format: str = MP4
    fps: float = OFFICIAL_FPS
    output_frames: str = ALL_FRAMES
    clip: object = None
    schedule: PromptSchedule | None = None
    seed: int = 0
    chunk_offset: int = 0  # chunks made by the run this one resumes
    resumed_from: str | None = None
    metadata: dict[str, str] | None = None  # embedded in the file (the prompt and workflow)
    vae_decode: str = FP32


def extend(request: Request) -> tuple[torch.Tensor, str]:
    """Run every chunk; returns the frames asked for and the path of the finished video."""
    start = check_video_frames(request.start, "start_frames", CONDITION_FRAMES)
    plan = plan_chunks(start.shape[0], request.frames_to_add)
    if plan.trimmed_frames:
        logging.info("StreamingT2V: %d frames is not a whole number of %d-frame steps; generating %d and keeping %d.",
                     request.frames_to_add, NEW_FRAMES_PER_CHUNK, plan.generated_frames, request.frames_to_add)
    require_streamingt2v_model(request.model)
    require_clip_vision(request.clip_vision)
    if request.schedule is not None and request.clip is None:
        raise ValueError("prompt_schedule needs the clip input to encode its prompts: connect the CLIP of Load StreamingT2V.")
    height, width = start.shape[1:3]
    base = output_base(request.filename_prefix, width, height)
    preflight(request, plan, width, height, base)
    writer = VideoWriter(base, request.video_format, request.fps, request.metadata)
    run = Run(plan, writer, Manifest(base + ".json", manifest_data(request, plan, writer, base)), base + RESUME_SUFFIX, start[:1])
    output = FrameStore(request.output_frames, plan.total_frames, start)
    try:
        run.write(start, start[-CONDITION_FRAMES:])
        run.manifest.save()
        _run_chunks(request, plan, start, run, output)
        path = writer.finish()
    except BaseException as e:
        reported = run.stopped(e)
        if reported is e:
            raise
        raise reported from e
    run.manifest.finish(COMPLETE, path)
    return output.result(), path


def manifest_data(request: Request, plan: ChunkPlan, writer: VideoWriter, base: str) -> dict:
    return {
        "video": os.path.basename(writer.path), "resume_frames": os.path.basename(base + RESUME_SUFFIX),
        "start_frames": plan.start_frames, "frames_to_add": plan.frames_to_add, "chunks": plan.chunks,
        "seed": request.seed, "sampling": request.sampling.describe, "vae_decode": request.vae_decode,
        "format": request.video_format, "fps": request.fps,
        "streamingt2v_weights": request.streamingt2v.weights_name,
        "prompt_schedule": request.schedule.entries if request.schedule else None,
        "resumed_from": request.resumed_from, "chunk_offset": request.chunk_offset,
    }


@dataclass
class Run:
    """A run's files, kept in step: for each chunk the lossless resume frames, then the video, then the manifest,
    so the manifest never names a chunk the video lacks."""
    plan: ChunkPlan
    writer: VideoWriter
    manifest: Manifest
    resume_path: str
    anchor: torch.Tensor

    def write(self, frames: torch.Tensor, tail: torch.Tensor) -> None:
        save_resume_frames(self.resume_path, ResumeFrames(self.anchor, tail, self.writer.frames + frames.shape[0]))
        self.writer.write(frames)

    def stopped(self, error: BaseException) -> BaseException:
        """Leave the files as the manifest says (a `.partial` video of the chunks logged); the error to report."""
        path = self.writer.close()
        cancelled = isinstance(error, mm.InterruptProcessingException)
        try:
            self.manifest.finish(CANCELLED if cancelled else FAILED, path, None if cancelled else f"{type(error).__name__}: {error}")
        except OSError as e:
            logging.error("StreamingT2V: the manifest %s could not be updated (%s); it still says 'running'", self.manifest.path, e)
        kept = (f"{self.writer.frames} frames ({self.manifest.chunks_done} of {self.plan.chunks} chunks) are in "
                f"{os.path.basename(path)} and {os.path.basename(self.manifest.path)} records them")
        logging.warning("StreamingT2V: stopped; %s", kept)
        if cancelled or not isinstance(error, OSError):
            return error
        where = error.where if isinstance(error, VideoWriteError) else write_failure(error, error.filename or path)
        fix = "free some space" if disk_full(error) else "fix that folder"
        resume = os.path.relpath(self.manifest.path, folder_paths.get_output_directory()).replace(os.sep, "/")
        return VideoWriteError(f"StreamingT2V Extend could not write its files: {where}. {kept}; {fix}, then set "
                               f"resume_manifest to '{resume}' to continue from there.")


def _run_chunks(request: Request, plan: ChunkPlan, start: torch.Tensor, run: Run, output: "FrameStore") -> None:
    sampling = request.sampling
    steps = len(sampling.sigmas) - 1
    cond_tokens, uncond_tokens = anchor_tokens(request.streamingt2v, request.clip_vision, start[:1])
    model = attach_cam(request.model, request.streamingt2v)
    vae = decoding_vae(request.vae, request.vae_decode)
    mm.load_models_gpu([model, vae.patcher])  # once for the run; the sampler finds them loaded
    latent = torch.zeros([EXTEND_CHUNK_FRAMES, LATENT_CHANNELS, start.shape[1] // VAE_FACTOR, start.shape[2] // VAE_FACTOR])
    progress = Progress(model, plan.chunks * steps, request.fps)
    tail = start[-CONDITION_FRAMES:]
    prompts = PromptCache(request)
    for chunk in range(plan.chunks):
        mm.throw_exception_if_processing_interrupted()
        features = frame_features(request.streamingt2v, tail)
        conds = dict(request.conds, positive=prompts.positive(plan.first_new_frame(chunk)))
        chunk_conds = {name: with_chunk_conditions(c, uncond_tokens if name in UNCONDITIONAL_CONDS else cond_tokens, features)
                       for name, c in conds.items()}
        index = request.chunk_offset + chunk  # the chunk's place in the whole video, resumed runs included
        seed = chunk_seed(request.seed, index)
        guider = sampling.guider(model, chunk_conds)
        keep = min(NEW_FRAMES_PER_CHUNK, request.frames_to_add - chunk * NEW_FRAMES_PER_CHUNK)
        with progress.sampling(new_frames(keep)) as callback:
            samples = sample_chunk(guider, sampling, latent, index, seed, callback)
        frames = vae.decode(samples.to(mm.intermediate_device()))
        new = frames[CONDITION_FRAMES:CONDITION_FRAMES + keep]
        tail = frames[-CONDITION_FRAMES:]
        run.write(new, tail)
        output.add(new)
        run.manifest.chunk_done(index, seed, prompts.last)


def new_frames(keep: int) -> Callable[[int, torch.Tensor], torch.Tensor]:
    """What the preview shows of a chunk: the frames it adds, not the conditioning half that is thrown away."""
    return lambda step, x0: x0[CONDITION_FRAMES:CONDITION_FRAMES + keep]


def sample_chunk(guider: comfy.samplers.CFGGuider, sampling: Sampling, latent: torch.Tensor, chunk: int, seed: int,
                 callback=None) -> torch.Tensor:
    """Denoise one 16-frame chunk with the user's sampler; the guider's model and conditions carry the CAM and APM."""
    noise = sampling.noise(chunk, latent)
    if sampling.official_ddim:  # the official start is pure noise at the first timestep (VP), not sigma * noise
        noise = noise * (1 + sampling.sigmas[0] ** 2).sqrt() / sampling.sigmas[0]
    samples = guider.sample(noise, latent, sampling.sampler, sampling.sigmas, callback=callback, disable_pbar=True, seed=seed)
    if sampling.official_ddim:  # the official output is the VP latent at t = 0
        samples = samples / (1 + sampling.sigmas[-1] ** 2).sqrt()
    return samples


def preflight(request: Request, plan: ChunkPlan, width: int, height: int, base: str) -> None:
    """Log what the run needs; refuse one whose video cannot fit on disk or whose frames cannot fit in RAM."""
    steps = len(request.sampling.sigmas) - 1
    pixels = plan.total_frames * width * height
    disk = pixels * (MP4_BYTES_PER_PIXEL if request.video_format == MP4 else PNG_BYTES_PER_PIXEL)
    held = plan.total_frames if request.output_frames == ALL_FRAMES else EXTEND_CHUNK_FRAMES
    vram = request.model.model.memory_required([2 * EXTEND_CHUNK_FRAMES, LATENT_CHANNELS, height // VAE_FACTOR, width // VAE_FACTOR])
    free = free_disk_bytes(base)
    logging.info("StreamingT2V pre-flight: %d chunks x %d steps = %d sampler steps; frames in RAM %.2f GB; activations "
                 "%.2f GB VRAM; video %.2f GB on disk (%.1f GB free)", plan.chunks, steps, plan.chunks * steps,
                 frames_bytes(held, width, height) / 1e9, vram / 1e9, disk / 1e9, free / 1e9)
    if request.output_frames == ALL_FRAMES:
        refuse_frames_beyond_ram(plan.total_frames, width, height, "frames")
    if disk > free:
        raise ValueError(f"The video needs about {disk / 1e9:.2f} GB but {os.path.dirname(base)} has {free / 1e9:.2f} GB "
                         "free: free some space, add fewer frames, or choose mp4 over the PNG sequence.")


class PromptCache:
    """The positive conditioning of each chunk: the prompt schedule's entry, encoded once per distinct prompt."""

    def __init__(self, request: Request):
        self.request, self.encoded, self.last = request, {}, None

    def positive(self, frame: int) -> list:
        prompt = self.request.schedule.prompt_at(frame) if self.request.schedule else None
        self.last = prompt
        if prompt is None:
            return self.request.conds["positive"]
        if prompt not in self.encoded:
            clip = self.request.clip
            self.encoded[prompt] = clip.encode_from_tokens_scheduled(clip.tokenize(prompt))
        return self.encoded[prompt]


def resume_start(manifest_name: str, redo_from_chunk: int) -> tuple[torch.Tensor, int, dict]:
    """The frames of an earlier run up to a chunk boundary, read back from its video, and the chunk to go on from.

    `redo_from_chunk` -1 continues after the last chunk the manifest records (whether that run completed, was
    cancelled, failed or was killed); k >= 0 keeps chunks before k and redoes the rest. The anchor and, where they
    belong to that boundary, the last 8 frames come from the lossless resume frames, so a continued run makes the
    frames the earlier run would have made.
    """
    path, previous = read_manifest(manifest_name)
    offset, log = previous["chunk_offset"], previous["chunk_log"]
    done = offset + len(log)
    chunk = done if redo_from_chunk < 0 else redo_from_chunk
    if chunk > done:
        raise ValueError(f"redo_from_chunk is {chunk} but the earlier run finished {done} chunks: choose 0 to {done}, or -1 to continue.")
    trimmed = previous["frames_to_add"] % NEW_FRAMES_PER_CHUNK
    if chunk == done and trimmed and len(log) == previous["chunks"]:
        raise ValueError(f"redo_from_chunk: the earlier run's last chunk ({done - 1}) was trimmed to {trimmed} frames, so "
                         f"the video cannot go on from its end; set redo_from_chunk to {done - 1} to make that chunk whole.")
    earlier_start = previous["start_frames"] - NEW_FRAMES_PER_CHUNK * offset
    keep = earlier_start + NEW_FRAMES_PER_CHUNK * chunk
    video = manifest_file(manifest_name, path, "video", previous)
    try:
        frames = read_video(video, keep)
    except ValueError as e:
        raise ManifestError(f"resume_manifest {manifest_name!r}: its video cannot be read ({e}).") from None
    if frames.shape[0] < keep:
        raise ManifestError(f"resume_manifest {manifest_name!r}: its video {previous['video']!r} has {frames.shape[0]} "
                            f"frames, fewer than the {keep} its chunk_log promises; choose an earlier redo_from_chunk.")
    return _with_lossless_frames(frames, manifest_name, path, previous), chunk, previous


def _with_lossless_frames(frames: torch.Tensor, manifest_name: str, path: str, previous: dict) -> torch.Tensor:
    """The video's frames with the exact anchor and (at the boundary they were saved for) the exact last 8 frames."""
    exact = None
    if previous.get("resume_frames"):
        found = manifest_file(manifest_name, path, "resume_frames", previous, required=False)
        exact = load_resume_frames(found) if found else None
    if exact is None or exact.anchor.shape[1:] != frames.shape[1:] or exact.tail.shape != frames[-CONDITION_FRAMES:].shape:
        logging.warning("StreamingT2V: %s has no resume frames for this video; the resumed chunks condition on frames "
                        "read back from the video (lossy for mp4).", manifest_name)
        return frames
    frames[:1] = exact.anchor
    if exact.video_frames == frames.shape[0]:
        frames[-CONDITION_FRAMES:] = exact.tail
    else:
        logging.info("StreamingT2V: redoing from an earlier chunk; it conditions on frames read back from the video "
                     "(the exact ones are kept only for the end of %s).", previous["video"])
    return frames
