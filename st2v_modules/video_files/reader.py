"""Frames back from a video the pack wrote: an mp4 or a PNG sequence folder."""
from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image


def read_video(path: str, frames: int | None = None) -> torch.Tensor:
    """The first `frames` frames (all if None) of an mp4 or a PNG sequence folder as `[N, H, W, 3]` floats in 0..1."""
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.endswith(".png"))[:frames]
        pixels = [np.asarray(Image.open(os.path.join(path, n)).convert("RGB")) for n in names]
    else:
        import imageio_ffmpeg
        reader = imageio_ffmpeg.read_frames(path)
        meta = next(reader)
        width, height = meta["size"]
        pixels = []
        for raw in reader:
            pixels.append(np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3))
            if frames is not None and len(pixels) == frames:
                reader.close()
                break
    if not pixels:
        raise ValueError(f"{path} holds no frames")
    return torch.from_numpy(np.stack(pixels)).float() / 255
