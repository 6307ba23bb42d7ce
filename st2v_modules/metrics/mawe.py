"""MAWE, the paper's motion-aware warp error (spec 5): how badly each frame predicts the next along the optical flow,
relative to how much the video moves. Lower is better; a static video has no motion and so no MAWE."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torchvision.transforms.functional as tvf

from .frame_input import Frames, check_frames, to_uint8
from .warp import forward_warp

OFFICIAL_SIZE = 720  # every frame is resized to 720x720 before the flow
OFFICIAL_COEFF = 9.5  # c in MAWE = mean_t e_t / (c * m_t)

FlowFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(frame t, frame t+1) as uint8 `[1, 3, H, W]` -> flow from t to t+1, `[1, 2, H, W]` in pixels (x then y)."""


@dataclass(frozen=True)
class MaweResult:
    mawe: float  # nan or inf when a frame pair has no motion (the official formula divides by it)
    warp_errors: list[float]  # e_t per frame pair, squared error in 0-255 units over the pixels the warp reaches
    motions: list[float]  # m_t per frame pair, mean flow length in pixels of the size x size frames
    size: int
    coeff: float


def resize_frame(frame: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 `[3, H, W]` -> `[3, size, size]`, bilinear without antialiasing, as the official resize."""
    return tvf.resize(frame, [size, size], antialias=False)


def pair_error(left: torch.Tensor, right: torch.Tensor, flow: torch.Tensor) -> tuple[float, float]:
    """(warp error e_t, motion m_t) of uint8 `[3, H, W]` frames and their flow `[2, H, W]`."""
    motion = torch.linalg.vector_norm(flow, dim=0).mean()
    warped, valid = forward_warp(left.to(torch.float32), flow)
    known = valid.to(torch.float32).expand(left.shape[0], -1, -1)
    difference = (right.to(warped.device) - warped) * known
    count = known.sum()
    if count == 0:  # the whole frame left the picture: the official code then divides by every element
        count = torch.tensor(float(known.numel()))
    return (difference.pow(2).sum() / count).item(), motion.item()


def combine(warp_errors: Sequence[float], motions: Sequence[float], coeff: float = OFFICIAL_COEFF) -> float:
    """The mean of per-pair ratios (not a ratio of means), in float32 like the official code."""
    errors = torch.tensor(list(warp_errors), dtype=torch.float32)
    return (errors / (coeff * torch.tensor(list(motions), dtype=torch.float32))).mean().item()


def mawe(frames: Frames, flow: FlowFunction, size: int = OFFICIAL_SIZE,
         coeff: float = OFFICIAL_COEFF, progress: Callable[[int, int], None] | None = None,
         name: str = "images") -> MaweResult:
    """MAWE of `[N, H, W, 3]` frames in 0..1 (a tensor or a list of `[H, W, 3]`), one frame pair at a time.

    `size` is the square working size (official 720); smaller is faster and no longer the paper's number.
    `progress(done, total)` is called after every pair; `name` is the input that errors name.
    """
    check_frames(frames, minimum=2, purpose="MAWE compares each frame with the next", name=name)
    if size < 1:
        raise ValueError(f"size is {size}; MAWE resizes frames to size x size pixels (official: {OFFICIAL_SIZE}).")
    warp_errors, motions = [], []
    left = resize_frame(to_uint8(frames[0]), size)
    for t in range(1, len(frames)):
        right = resize_frame(to_uint8(frames[t]), size)
        flow_t = flow(left.unsqueeze(0), right.unsqueeze(0))[0]
        error, motion = pair_error(left.to(flow_t.device), right, flow_t)
        warp_errors.append(error)
        motions.append(motion)
        left = right
        if progress is not None:
            progress(t, len(frames) - 1)
    return MaweResult(combine(warp_errors, motions, coeff), warp_errors, motions, size, coeff)
