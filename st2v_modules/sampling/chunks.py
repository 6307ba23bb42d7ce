"""Chunk arithmetic of the autoregressive loop (spec 2.2): 16-frame chunks, each conditioned on the previous
chunk's last 8 frames, contributing its own last 8 frames (its first 8 re-generate the conditioning span)."""
from __future__ import annotations

import math
from dataclasses import dataclass

EXTEND_CHUNK_FRAMES = 16
CONDITION_FRAMES = 8
NEW_FRAMES_PER_CHUNK = EXTEND_CHUNK_FRAMES - CONDITION_FRAMES
SEED_STRIDE = 0x9E3779B97F4A7C15  # odd 64-bit constant: chunk seeds of one run never collide
SEED_MODULUS = 2**64


@dataclass(frozen=True)
class ChunkPlan:
    start_frames: int
    frames_to_add: int
    chunks: int

    @property
    def generated_frames(self) -> int:
        return self.chunks * NEW_FRAMES_PER_CHUNK

    @property
    def trimmed_frames(self) -> int:
        """Frames generated past the request (the last chunk is whole) and cut from the end."""
        return self.generated_frames - self.frames_to_add

    @property
    def total_frames(self) -> int:
        return self.start_frames + self.frames_to_add

    def first_new_frame(self, chunk: int) -> int:
        """Index in the whole video of the first frame chunk `chunk` contributes."""
        return self.start_frames + chunk * NEW_FRAMES_PER_CHUNK


def plan_chunks(start_frames: int, frames_to_add: int) -> ChunkPlan:
    """Chunks for `frames_to_add` new frames; the start frames themselves are checked by `frames.check_video_frames`."""
    if frames_to_add <= 0:
        raise ValueError(f"frames_to_add is {frames_to_add}; add at least 1 frame ({NEW_FRAMES_PER_CHUNK} per chunk).")
    return ChunkPlan(start_frames, frames_to_add, math.ceil(frames_to_add / NEW_FRAMES_PER_CHUNK))


def chunk_seed(run_seed: int, chunk: int) -> int:
    """Each chunk's noise seed, from the run seed and the chunk index alone, so any chunk can be redone."""
    return (run_seed + (chunk + 1) * SEED_STRIDE) % SEED_MODULUS
