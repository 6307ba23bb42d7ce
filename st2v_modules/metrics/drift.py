"""Per-chunk drift: how a long video's look changes chunk after chunk (spec 2.2's grid: the first 16-frame chunk, then
the 8 new frames of every extension chunk). A loop that drifts shows trending curves; one that holds stays flat."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ..sampling.chunks import EXTEND_CHUNK_FRAMES, NEW_FRAMES_PER_CHUNK
from .frame_input import Frames

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # Rec. 601 luma
THUMBNAIL_SIDE = 32  # the anchor comparison looks at layout and colour, not at fine texture or small motion


def chunk_spans(frames: int) -> list[range]:
    """Frame ranges of the first chunk and of each extension chunk's new frames (the last may be shorter)."""
    spans = [range(0, min(EXTEND_CHUNK_FRAMES, frames))]
    spans += [range(start, min(start + NEW_FRAMES_PER_CHUNK, frames)) for start in range(EXTEND_CHUNK_FRAMES, frames, NEW_FRAMES_PER_CHUNK)]
    return spans


def thumbnail(frame: torch.Tensor) -> torch.Tensor:
    """`[H, W, 3]` -> `[3, 32, 32]` by area averaging."""
    pixels = frame[..., :3].float().permute(2, 0, 1).unsqueeze(0)
    return torch.nn.functional.interpolate(pixels, size=(THUMBNAIL_SIDE, THUMBNAIL_SIDE), mode="area")[0]


def frame_statistics(frames: Frames) -> dict[str, torch.Tensor]:
    """Per frame (`[N]` each): brightness and contrast (mean and spread of luma), mean red/green/blue, saturation
    (mean max-min over channels), and anchor_pixel_distance (mean absolute difference of its thumbnail from frame 0's)."""
    luma_weights = torch.tensor(LUMA_WEIGHTS)
    names = ("brightness", "contrast", "red", "green", "blue", "saturation", "anchor_pixel_distance")
    rows, anchor = [], thumbnail(frames[0])
    for frame in frames:
        rgb = frame[..., :3].float()
        luma = rgb @ luma_weights.to(rgb.device)
        channel_means = rgb.mean(dim=(0, 1))
        saturation = (rgb.amax(dim=-1) - rgb.amin(dim=-1)).mean()
        distance = (thumbnail(frame) - anchor.to(rgb.device)).abs().mean()
        rows.append(torch.stack([luma.mean(), luma.std(), *channel_means, saturation, distance]).cpu())
    columns = torch.stack(rows).T
    return dict(zip(names, columns))


def per_chunk(values: Sequence[float] | torch.Tensor, spans: list[range]) -> list[float]:
    """The mean of a per-frame value over each chunk."""
    values = torch.as_tensor(values, dtype=torch.float64)
    return [values[span.start:span.stop].mean().item() for span in spans]


def pairs_per_chunk(values: Sequence[float] | torch.Tensor, spans: list[range]) -> list[float]:
    """The mean of a per-pair value (pair t: frame t -> t+1) over the pairs that end in each chunk, so a chunk's
    value includes the jump from the previous chunk into it."""
    values = torch.as_tensor(values, dtype=torch.float64)
    return [values[max(span.start - 1, 0):span.stop - 1].mean().item() for span in spans]
