"""Randomized blending (spec 3.4): a long latent video is denoised in overlapping chunks, and at every solver
step each chunk boundary is cut at a fresh random frame inside the overlap, so no seam stays in one place.

Functions here are pure over tensors with an explicit frame axis, so the same code serves the host's
sampler (frames in the batch, axis 0) and the official layout `[B, C, F, h, w]` (axis 2) of the fixtures.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

BLEND_CHUNK_FRAMES = 24
BLEND_OVERLAP_FRAMES = 8
TRIM, PAD_FRAMES = "trim (official)", "pad (keep every frame)"
LENGTH_MODES = (TRIM, PAD_FRAMES)  # how a video that does not tile into whole chunks is enhanced


@dataclass(frozen=True)
class BlendPlan:
    """Chunks of `chunk` frames, consecutive ones sharing `overlap` frames, covering `frames` exactly."""

    frames: int
    chunk: int = BLEND_CHUNK_FRAMES
    overlap: int = BLEND_OVERLAP_FRAMES

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.chunk:
            raise ValueError(f"overlap {self.overlap} must be at least 0 and smaller than the chunk ({self.chunk} frames)")
        if self.frames < self.chunk or (self.frames - self.overlap) % self.stride:
            raise ValueError(f"{self.frames} frames do not tile into chunks of {self.chunk} overlapping by {self.overlap}; "
                             f"use {fitting_length(self.frames, self.chunk, self.overlap)} (trimmed) or "
                             f"{padded_length(self.frames, self.chunk, self.overlap)} (padded)")

    @property
    def stride(self) -> int:
        return self.chunk - self.overlap

    @property
    def starts(self) -> list[int]:
        return list(range(0, self.frames - self.overlap, self.stride))


def fitting_length(frames: int, chunk: int = BLEND_CHUNK_FRAMES, overlap: int = BLEND_OVERLAP_FRAMES) -> int:
    """The official trimming: the longest prefix that tiles into whole chunks (80 frames -> 72); 0 if none does."""
    stride = chunk - overlap
    return 0 if frames < chunk else (frames - overlap) // stride * stride + overlap


def padded_length(frames: int, chunk: int = BLEND_CHUNK_FRAMES, overlap: int = BLEND_OVERLAP_FRAMES) -> int:
    """The shortest length >= `frames` that tiles into whole chunks, for keeping every frame."""
    stride = chunk - overlap
    return max(chunk, -(-(frames - overlap) // stride) * stride + overlap)


def enhanced_length(frames: int, pad: bool, chunk: int = BLEND_CHUNK_FRAMES, overlap: int = BLEND_OVERLAP_FRAMES) -> int:
    """Frames the enhancer denoises: the official trim to whole chunks, or (`pad`) padded so none is lost; a video
    shorter than one chunk is always padded."""
    trimmed = fitting_length(frames, chunk, overlap)
    return padded_length(frames, chunk, overlap) if pad or not trimmed else trimmed


def draw_cuts(plan: BlendPlan, generator: torch.Generator) -> list[int]:
    """One cut per chunk after the first, uniform in [0, overlap): where the later chunk takes over."""
    return torch.randint(0, max(plan.overlap, 1), (len(plan.starts) - 1,), generator=generator).tolist()


def blend_chunks(denoise: Callable[[int, int], torch.Tensor], plan: BlendPlan, cuts: Sequence[int], like: torch.Tensor,
                 frame_axis: int = 0) -> torch.Tensor:
    """The whole video's x0: chunk k's estimate from frame `start_k + cut_k` on, the earlier chunk's before it.

    `denoise(start, end)` returns the x0 estimate of frames [start, end); `like` gives shape, dtype and device.
    """
    if len(cuts) != len(plan.starts) - 1:
        raise ValueError(f"{len(plan.starts)} chunks need {len(plan.starts) - 1} cuts, got {len(cuts)}")
    out = torch.empty_like(like)
    for k, start in enumerate(plan.starts):
        x0 = denoise(start, start + plan.chunk)
        cut = cuts[k - 1] if k else 0
        out.narrow(frame_axis, start + cut, plan.chunk - cut).copy_(x0.narrow(frame_axis, cut, plan.chunk - cut))
    return out


def rescaled_guidance(cond: torch.Tensor, uncond: torch.Tensor, scale: float, rescale: float) -> torch.Tensor:
    """Classifier-free guidance on v, then the guided spread pulled `rescale` of the way back to the conditional
    one; the spread is the standard deviation over the whole chunk (all frames), not per frame."""
    guided = uncond + scale * (cond - uncond)
    if rescale:
        ratio = cond.flatten().std() / (guided.flatten().std() + 1e-12)
        guided = guided * (rescale * ratio + (1 - rescale))
    return guided
