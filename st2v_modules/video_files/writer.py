"""Frames to disk as they are made: an h264 mp4 through imageio-ffmpeg, or a lossless PNG sequence.

A video is written under a `.partial` name and renamed only when `finish()` is called, so a file that
claims to be complete is complete; `close()` after a cancel or an error leaves a playable partial file.
`metadata` (e.g. the prompt and workflow, as ComfyUI's Save Video embeds them) goes into the mp4's container
tags, or into the first PNG of a sequence.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

MP4 = "mp4 (h264)"
PNG = "png sequence (lossless)"
FORMATS = (MP4, PNG)
H264_CRF = 17  # visually lossless for 256x256 previews


class VideoWriter:
    def __init__(self, path: str, fmt: str, fps: float, metadata: dict[str, str] | None = None):
        """`path` without extension: `<path>.mp4`, or the folder `<path>/` of numbered PNGs."""
        self.fmt, self.frames, self._encoder = fmt, 0, None
        self.final_path = path + (".mp4" if fmt == MP4 else "")
        self.path = path + (".partial.mp4" if fmt == MP4 else ".partial")
        self.fps, self.metadata = fps, metadata or {}
        if fmt == PNG:
            os.makedirs(self.path, exist_ok=True)

    def write(self, frames: torch.Tensor) -> None:
        """`[N, H, W, 3]` floats in 0..1."""
        pixels = (frames.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        if self.fmt == PNG:
            for frame in pixels:
                Image.fromarray(frame).save(os.path.join(self.path, f"{self.frames:06d}.png"), compress_level=1,
                                            pnginfo=self._png_info() if self.frames == 0 else None)
                self.frames += 1
            return
        if self._encoder is None:
            self._encoder = self._open(pixels.shape[2], pixels.shape[1])
        for frame in pixels:
            self._encoder.send(np.ascontiguousarray(frame))
            self.frames += 1

    def _png_info(self) -> PngInfo | None:
        if not self.metadata:
            return None
        info = PngInfo()
        for key, value in self.metadata.items():
            info.add_text(key, value)
        return info

    def _open(self, width: int, height: int):
        import imageio_ffmpeg
        tags = [arg for key, value in self.metadata.items() for arg in ("-metadata", f"{key}={value}")]
        encoder = imageio_ffmpeg.write_frames(self.path, (width, height), fps=self.fps, codec="libx264", pix_fmt_out="yuv420p",
                                              output_params=["-crf", str(H264_CRF), "-movflags", "use_metadata_tags", *tags,
                                                             "-f", "mp4"], macro_block_size=1)
        encoder.send(None)
        return encoder

    def close(self) -> str:
        """Flush what was written; the file keeps its `.partial` name. Returns its path."""
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None
        return self.path

    def finish(self) -> str:
        """Close and give the file its final name. Returns the final path."""
        self.close()
        os.replace(self.path, self.final_path)
        self.path = self.final_path
        return self.final_path
