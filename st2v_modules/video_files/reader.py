"""Frames back from a video the pack wrote: an mp4 (a `.partial` one included) or a PNG sequence folder."""
from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image


def read_video(path: str, frames: int | None = None) -> torch.Tensor:
    """The first `frames` frames (all if None) of an mp4 or a PNG sequence folder as `[N, H, W, 3]` floats in 0..1.

    A file cut off inside its last fragment (a crash while it was being written) gives the frames before the cut."""
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.endswith(".png"))[:frames]
        pixels = [np.asarray(Image.open(os.path.join(path, n)).convert("RGB")) for n in names]
    else:
        pixels = _decode(path, frames)
    if not pixels:
        raise ValueError(f"{path} holds no frames")
    return torch.from_numpy(np.stack(pixels)).float() / 255


def _decode(path: str, frames: int | None) -> list[np.ndarray]:
    import av
    pixels = []
    try:
        with av.open(path) as container:
            for frame in container.decode(video=0):
                pixels.append(frame.to_ndarray(format="rgb24"))
                if len(pixels) == frames:
                    break
    except av.error.FFmpegError as error:
        if not pixels:
            raise ValueError(f"{path} is not a readable video ({error})") from None
    return pixels
