"""One video's enhancement over several workers: segments of whole blending chunks, consecutive ones sharing one
chunk overlap. Each worker enhances its segment with one more chunk of each neighbour as context (so the frames it
shares with a neighbour are blended with the same chunks on both sides, as in one worker), and the segments are joined
by a crossfade over the shared frames. The workers never wait for each other: a segment is an independent task that a
lost worker costs alone."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from ..sampling.blending import BlendPlan


@dataclass(frozen=True)
class Segment:
    kept: tuple[int, int]
    """Frames [start, end) of the whole video this segment provides."""
    context: tuple[int, int]
    """Frames [start, end) its worker enhances: the kept ones and a chunk of each neighbour (whole chunks, so its own
    blending chunks are the whole video's)."""


def split(plan: BlendPlan, segments: int) -> list[Segment]:
    """`segments` runs of consecutive chunks, as even as whole chunks allow."""
    chunks = len(plan.starts)
    if not 1 <= segments <= chunks:
        raise ValueError(f"{plan.frames} frames are {chunks} blending chunks of {plan.chunk}; split them into 1 to "
                         f"{chunks} segments, not {segments}.")
    bounds = [round(i * chunks / segments) for i in range(segments + 1)]

    def frames(first: int, end: int) -> tuple[int, int]:
        return plan.starts[first], plan.starts[end - 1] + plan.chunk

    return [Segment(frames(a, b), frames(max(a - 1, 0), min(b + 1, chunks))) for a, b in zip(bounds, bounds[1:])]


def stitched(segments: list[Segment], frame: Callable[[int, int], torch.Tensor], frames: int) -> Iterator[torch.Tensor]:
    """The first `frames` frames of the whole video, one at a time. `frame(k, f)` is frame f of the whole video as
    segment k enhanced it; where two segments share frames, the later one fades in linearly."""
    for f in range(frames):
        owners = [k for k, s in enumerate(segments) if s.kept[0] <= f < s.kept[1]]
        if len(owners) == 1:
            yield frame(owners[0], f)
            continue
        left, right = owners
        start, end = segments[right].kept[0], segments[left].kept[1]
        weight = (f - start + 1) / (end - start + 1)
        yield (1 - weight) * frame(left, f) + weight * frame(right, f)
