"""What the APM's image encoder sees: the official OpenCLIP preprocessing in float (spec 1.5a, `image_embedder.py`).

Official: frames in [-1, 1], kornia's bicubic resize to 224 x 224 with `align_corners=True` and its antialiasing
(a Gaussian blur before a downscale), then [0, 1] and CLIP's mean and std. Nothing is rounded to 8 bits, so the
unconditional all-zero image is exactly 0.5 grey. The blur and resize follow kornia 0.9's `resize` step by step in
plain torch (kornia is only the tests' oracle).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

CLIP_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def gaussian_kernel(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    x = torch.arange(size, dtype=like.dtype, device=like.device) - size // 2
    kernel = torch.exp(-x**2 / (2 * sigma**2))
    return kernel / kernel.sum()


def antialias(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """kornia's blur before downscaling `[N, C, H, W]` to `size`: per axis a Gaussian of sigma (factor - 1) / 2 over at
    least 3 (odd) taps, reflected at the borders, width first."""
    height, width = pixels.shape[-2:]
    factors = (height / size[0], width / size[1])
    if max(factors) <= 1:
        return pixels
    channels = pixels.shape[1]
    for axis, (length, factor) in ((-1, (width, factors[1])), (-2, (height, factors[0]))):
        sigma = max((factor - 1) / 2, 0.001)
        taps = max(int(4 * sigma), 3)
        taps = 1 if length == 1 else taps + 1 - taps % 2
        kernel = gaussian_kernel(taps, sigma, pixels)
        shape = (1, taps) if axis == -1 else (taps, 1)
        pad = (taps // 2, taps // 2, 0, 0) if axis == -1 else (0, 0, taps // 2, taps // 2)
        pixels = F.conv2d(F.pad(pixels, pad, mode="reflect"), kernel.view(1, 1, *shape).expand(channels, 1, *shape),
                          groups=channels)
    return pixels


def official_clip_pixels(images: torch.Tensor, size: int = CLIP_SIZE) -> torch.Tensor:
    """IMAGE `[N, H, W, C]` in [0, 1] -> the encoder's input `[N, 3, size, size]`, normalised, in float32."""
    pixels = images[..., :3].movedim(-1, 1).float() * 2 - 1  # the official frames are in [-1, 1]
    pixels = antialias(pixels, (size, size))
    pixels = F.interpolate(pixels, size=(size, size), mode="bicubic", align_corners=True)
    mean = torch.tensor(CLIP_MEAN, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=pixels.device).view(1, 3, 1, 1)
    return ((pixels + 1) / 2 - mean) / std
