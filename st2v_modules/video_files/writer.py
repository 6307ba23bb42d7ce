"""Frames to disk as they are made, crash-proof: an h264 fragmented mp4, or a lossless PNG sequence.

Every `write()` is on disk (written and fsynced) when it returns: an mp4 gets one fragment per call, so the file is
playable up to the last finished write at any moment, after a cancel, an error, a killed process or a power cut.
The video is written under a `.partial` name and renamed only when `finish()` has closed it without an error, so a
file that claims to be complete is complete. A write that fails (a full disk) leaves the file as it was before it
and raises VideoWriteError, which names the folder, its free space and the fix.
"""
from __future__ import annotations

import errno
import math
import os
import shutil
from fractions import Fraction

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from .durable import fsync_directory, write_durably
from .fmp4 import fragment, init_segment, length_prefixed

MP4 = "mp4 (h264)"
PNG = "png sequence (lossless)"
FORMATS = (MP4, PNG)
H264_CRF = 17  # visually lossless for 256x256 previews
# no lookahead and no B-frames: each frame's packet leaves the encoder at once, so a chunk is whole when written
H264_OPTIONS = {"crf": str(H264_CRF), "tune": "zerolatency"}
MIN_TIMESCALE = 10000  # ticks per second, fine enough for any frame rate


class VideoWriteError(OSError):
    """The video could not be written (a full disk, a folder that went away, the encoder); the file keeps its
    `.partial` name and every frame written before. `where` is the reason, the folder and its free space."""
    where = ""


class VideoWriter:
    def __init__(self, path: str, fmt: str, fps: float, metadata: dict[str, str] | None = None):
        """`path` without extension: `<path>.mp4`, or the folder `<path>/` of numbered PNGs. `metadata` (e.g. the
        prompt and workflow JSON) goes into the mp4 container's tags, or the first PNG's text chunks."""
        self.fmt, self.fps, self.metadata, self.frames, self.failed = fmt, fps, dict(metadata or {}), 0, False
        self.final_path = path + (".mp4" if fmt == MP4 else "")
        self.path = path + (".partial.mp4" if fmt == MP4 else ".partial")
        self._mp4: FragmentedH264 | None = None
        if fmt == PNG:
            os.makedirs(self.path, exist_ok=True)

    def write(self, frames: torch.Tensor) -> None:
        """`[N, H, W, 3]` floats in 0..1, on disk when this returns."""
        pixels = (frames.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        try:
            if self.fmt == PNG:
                for index, frame in enumerate(pixels, start=self.frames):
                    write_durably(self._png(index), lambda f: self._save_png(f, frame, index))
            else:
                if self._mp4 is None:
                    self._mp4 = FragmentedH264(self.path, pixels.shape[2], pixels.shape[1], self.fps, self.metadata)
                self._mp4.write(pixels)
        except OSError as error:
            self.failed = True
            for index in range(self.frames, self.frames + len(pixels)) if self.fmt == PNG else ():
                if os.path.exists(self._png(index)):  # the sequence, too, ends at the last whole write
                    os.remove(self._png(index))
            raise self._error(error, f"writing frames {self.frames} to {self.frames + len(pixels) - 1}") from error
        self.frames += len(pixels)

    def _png(self, index: int) -> str:
        return os.path.join(self.path, f"{index:06d}.png")

    def _save_png(self, file, frame: np.ndarray, index: int) -> None:
        info = PngImagePlugin.PngInfo()
        for key, value in self.metadata.items() if index == 0 else ():
            info.add_text(key, value)
        Image.fromarray(frame).save(file, format="PNG", compress_level=1, pnginfo=info)

    def close(self) -> str:
        """Release the file; it keeps its `.partial` name and what was written. Returns its path. Safe after a failure."""
        if self._mp4 is not None:
            mp4, self._mp4 = self._mp4, None
            mp4.close()
        return self.path

    def finish(self) -> str:
        """Close and give the file its final name. Returns the final path; on an error the `.partial` stays."""
        if self.failed:
            self.close()
            raise VideoWriteError(f"{os.path.basename(self.path)} misses frames (a write failed), so it keeps its .partial name")
        try:
            if self._mp4 is not None:
                mp4, self._mp4 = self._mp4, None
                mp4.close(check=True)
            os.replace(self.path, self.final_path)
            fsync_directory(os.path.dirname(os.path.abspath(self.final_path)))
        except OSError as error:
            raise self._error(error, "closing the video") from error
        self.path = self.final_path
        return self.final_path

    def _error(self, error: OSError, doing: str) -> VideoWriteError:
        fix = "free some space (or choose another output folder)" if disk_full(error) else "check that folder"
        where = write_failure(error, self.path)
        failure = VideoWriteError(f"{where} while {doing}. The {self.frames} frames written before are kept in "
                                  f"{os.path.basename(self.path)}; {fix} and run again")
        failure.errno, failure.where = error.errno, where
        return failure


def disk_full(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def write_failure(error: OSError, path: str) -> str:
    """'<reason> in <folder> (<free space> free)': where a write failed and how much room is left there."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        free = f"{readable_size(shutil.disk_usage(folder).free)} free"
    except OSError:
        free = "free space unknown"
    return f"{error.strerror or error} in {folder} ({free})"


def readable_size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


class FragmentedH264:
    """libx264 in this process (PyAV, ComfyUI's own video library), one mp4 fragment per write, fsynced."""

    def __init__(self, path: str, width: int, height: int, fps: float, metadata: dict[str, str]):
        import av
        from av.codec.context import Flags
        rate = Fraction(fps).limit_denominator(1001)
        ticks = math.ceil(MIN_TIMESCALE / rate.numerator)
        self.timescale, self.duration = rate.numerator * ticks, rate.denominator * ticks
        try:
            self.encoder = av.CodecContext.create("libx264", "w")
        except (av.error.FFmpegError, ValueError) as error:
            raise OSError(f"this PyAV has no libx264 encoder ({error}); choose the PNG sequence") from None
        self.encoder.width, self.encoder.height, self.encoder.pix_fmt = width, height, "yuv420p"
        self.encoder.time_base, self.encoder.framerate = Fraction(1, self.timescale), rate
        self.encoder.flags |= Flags.global_header  # SPS and PPS once, in the init segment
        self.encoder.options = H264_OPTIONS
        self.encoder.open()
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
        self.fragments, self.samples, self.size = 0, 0, 0
        try:
            self._append(init_segment(width, height, self.timescale, bytes(self.encoder.extradata), metadata))
        except OSError:
            os.close(self.fd)
            raise

    def write(self, pixels: np.ndarray) -> None:
        self._append(fragment(self.fragments + 1, self.samples * self.duration, self.duration, self._encode(pixels)))
        self.fragments += 1
        self.samples += len(pixels)

    def _encode(self, pixels: np.ndarray) -> list[tuple[bytes, bool]]:
        import av
        samples = []
        try:
            for frame in pixels:
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                picture.pts = (self.samples + len(samples)) * self.duration
                samples += [(length_prefixed(bytes(packet)), packet.is_keyframe) for packet in self.encoder.encode(picture)]
        except av.error.FFmpegError as error:
            raise OSError(f"the h264 encoder failed: {error}") from error
        if len(samples) != len(pixels):
            raise OSError(f"the h264 encoder returned {len(samples)} pictures for {len(pixels)} frames")
        return samples

    def _append(self, data: bytes) -> None:
        """Write and fsync; a write that fails is cut off again, so the file always ends at a whole fragment."""
        try:
            done = 0
            while done < len(data):
                done += os.write(self.fd, data[done:])
            os.fsync(self.fd)
        except OSError:
            os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)

    def close(self, check: bool = False) -> None:
        """`check`: the encoder must have nothing left (zerolatency holds no frame back)."""
        try:
            if check and self.encoder.encode(None):
                raise OSError("the h264 encoder held back pictures at the end")
        finally:
            os.close(self.fd)
