"""The frames every metric takes: `[N, H, W, 3]` floats in 0..1 (a ComfyUI IMAGE batch) or a list of `[H, W, 3]`."""
from __future__ import annotations

from collections.abc import Sequence

import torch

Frames = torch.Tensor | Sequence[torch.Tensor]


def check_frames(frames: Frames, minimum: int, purpose: str, name: str = "images") -> None:
    """Refuse too few frames and frames of different sizes, naming the input and the fix."""
    count = len(frames)
    if count < minimum:
        raise ValueError(f"{name} has {count} frame{'s' if count != 1 else ''}; {purpose}: pass a video of at least "
                         f"{minimum} frames.")
    first = tuple(frames[0].shape)
    if len(first) != 3 or first[2] < 3:
        raise ValueError(f"{name} frames are shaped {list(first)}; expected [height, width, 3] RGB frames (an IMAGE batch).")
    for index in range(1, count):
        shape = tuple(frames[index].shape)
        if shape[:2] != first[:2]:
            raise ValueError(f"{name}: frame {index} is {shape[1]}x{shape[0]} but frame 0 is {first[1]}x{first[0]}; all "
                             "frames of a video must have one size: resize them first (e.g. with Upscale Image).")


def to_uint8(frame: torch.Tensor) -> torch.Tensor:
    """`[H, W, 3]` floats in 0..1 -> uint8 `[3, H, W]`, rounded as the video writer stores them."""
    return (frame[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).permute(2, 0, 1)
