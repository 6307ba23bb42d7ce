"""Where the input frames go on the enhancer's canvas (spec 3.2), and which canvas sizes its UNet accepts.

The official run scales 256x256 frames to 720x720 (bicubic) and pads them with black bars to 1280x720.
MS-Vid2Vid-XL's row-padded resampling only reassembles some latent sizes: each downsampled level needs an
even height and width, and goes from h rows to h/2 + 1 (columns: w to w/2).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .frames import VAE_FACTOR

OFFICIAL_CANVAS = (1280, 720)
PAD, CROP_BARS, FILL = "pad (official)", "pad, then crop the bars", "fill (crop to the canvas)"
FIT_MODES = (PAD, CROP_BARS, FILL)
DOWNSAMPLES = 3


def _side_fits(latent: int, downsamples: int, extra_row: int) -> bool:
    for _ in range(downsamples):
        if latent % 2:
            return False
        latent = latent // 2 + extra_row
    return True


def height_fits(pixels: int, downsamples: int = DOWNSAMPLES) -> bool:
    return pixels % VAE_FACTOR == 0 and _side_fits(pixels // VAE_FACTOR, downsamples, 1)


def width_fits(pixels: int, downsamples: int = DOWNSAMPLES) -> bool:
    return pixels % VAE_FACTOR == 0 and _side_fits(pixels // VAE_FACTOR, downsamples, 0)


def _nearest(pixels: int, fits: Callable[[int], bool]) -> list[int]:
    below = next((p for p in range(pixels - pixels % VAE_FACTOR, 0, -VAE_FACTOR) if fits(p)), None)
    above = next(p for p in range(pixels + VAE_FACTOR - pixels % VAE_FACTOR, 1 << 16, VAE_FACTOR) if fits(p))
    return [p for p in (below, above) if p]


def check_canvas_size(width: int, height: int, downsamples: int = DOWNSAMPLES) -> None:
    """Refuse a canvas the enhancer cannot process, naming the nearest sizes it can."""
    if width % VAE_FACTOR or height % VAE_FACTOR:
        raise ValueError(f"width and height must be multiples of {VAE_FACTOR}; got {width}x{height}.")
    problems = []
    if not width_fits(width, downsamples):
        problems.append(f"width {width} -> use {' or '.join(map(str, _nearest(width, lambda p: width_fits(p, downsamples))))}")
    if not height_fits(height, downsamples):
        problems.append(f"height {height} -> use {' or '.join(map(str, _nearest(height, lambda p: height_fits(p, downsamples))))}")
    if problems:
        raise ValueError(f"MS-Vid2Vid-XL's down/upsampling does not fit a {width}x{height} canvas: {'; '.join(problems)} "
                         f"(the official canvas is {OFFICIAL_CANVAS[0]}x{OFFICIAL_CANVAS[1]}).")


@dataclass(frozen=True)
class Placement:
    """The frames scaled to `scaled` and pasted at `offset` on a `canvas`; `output` is the box kept afterwards."""

    canvas: tuple[int, int]
    scaled: tuple[int, int]
    offset: tuple[int, int]
    output: tuple[int, int, int, int]  # left, top, right, bottom on the canvas

    @property
    def output_size(self) -> tuple[int, int]:
        left, top, right, bottom = self.output
        return right - left, bottom - top


def place(frame_size: tuple[int, int], canvas: tuple[int, int], mode: str = PAD) -> Placement:
    """Fit (pad modes, keeping the aspect, as the official `resize_to_fit`) or cover (fill) the canvas."""
    (w, h), (cw, ch) = frame_size, canvas
    if mode not in FIT_MODES:
        raise ValueError(f"fit mode {mode!r} is not one of {FIT_MODES}")
    if mode == FILL:
        scale = max(cw / w, ch / h)
        scaled = (max(cw, round(w * scale)), max(ch, round(h * scale)))
    else:  # the official truncation, then even sides so h264 can hold the picture alone
        scaled = (cw, int(h * cw / w) // 2 * 2) if ch / h > cw / w else (int(w * ch / h) // 2 * 2, ch)
    offset = ((cw - scaled[0]) // 2, (ch - scaled[1]) // 2)
    if mode == CROP_BARS:
        output = (offset[0], offset[1], offset[0] + scaled[0], offset[1] + scaled[1])
    else:
        output = (0, 0, cw, ch)
    return Placement(canvas, scaled, offset, output)


def check_frame_sizes(frames: Sequence[torch.Tensor]) -> tuple[int, int]:
    """The (width, height) all frames share; mixed sizes are refused, naming the first frame that differs."""
    height, width = frames[0].shape[:2]
    for i, frame in enumerate(frames):
        if frame.shape[:2] != (height, width):
            raise ValueError(f"frames: frame {i} is {frame.shape[1]}x{frame.shape[0]} but frame 0 is {width}x{height}; "
                             "resize them to one size first (e.g. core Upscale Image).")
    return width, height


def to_canvas(frames: Sequence[torch.Tensor], placement: Placement) -> torch.Tensor:
    """Frames `[H, W, 3]` in 0..1 (an IMAGE batch or a list) on the canvas: bicubic on 8-bit frames (PIL, as the
    official code), black elsewhere."""
    check_frame_sizes(frames)
    cw, ch = placement.canvas
    out = torch.zeros((len(frames), ch, cw, 3))
    x, y = placement.offset
    for i, frame in enumerate(frames):
        image = Image.fromarray(np.clip(frame.cpu().float().numpy() * 255 + 0.5, 0, 255).astype(np.uint8))
        scaled = torch.from_numpy(np.array(image.resize(placement.scaled, Image.BICUBIC))).float() / 255
        left, top = max(0, -x), max(0, -y)
        region = scaled[top:top + ch, left:left + cw]
        out[i, max(y, 0):max(y, 0) + region.shape[0], max(x, 0):max(x, 0) + region.shape[1]] = region
    return out


def crop_output(frames: torch.Tensor, placement: Placement) -> torch.Tensor:
    left, top, right, bottom = placement.output
    return frames[:, top:bottom, left:right]
