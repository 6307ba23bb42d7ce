"""What every run that writes a video shares (StreamingT2V Extend and Enhance): where the file goes, the pre-flight
checks, the frames the node returns, and one progress bar with previews."""
from __future__ import annotations

import os
import shutil

import torch

import comfy.model_management as mm
import comfy.sd
import comfy.utils
import folder_paths
import latent_preview

ALL_FRAMES, LAST_CHUNK = "all", "last chunk"
OUTPUT_FRAMES = (ALL_FRAMES, LAST_CHUNK)
RAM_SHARE_FOR_FRAMES = 0.5  # the IMAGE output may take at most this share of the machine's RAM
VAE_DTYPE, FP32 = "vae dtype", "fp32"
DECODE_DTYPES = (FP32, VAE_DTYPE)


def output_base(prefix: str, width: int, height: int) -> str:
    folder, name, counter, _, _ = folder_paths.get_save_image_path(prefix, folder_paths.get_output_directory(), width, height)
    return os.path.join(folder, f"{name}_{counter:05}_")


def free_disk_bytes(base: str) -> int:
    return shutil.disk_usage(os.path.dirname(base)).free


def frames_bytes(frames: int, width: int, height: int) -> int:
    """RAM of an IMAGE batch: float32 RGB."""
    return frames * width * height * 3 * 4


def refuse_frames_beyond_ram(frames: int, width: int, height: int, what: str) -> None:
    """`output_frames: all` for more frames than RAM holds is refused before any work, with the figure and the fix."""
    needed = frames_bytes(frames, width, height)
    if needed > RAM_SHARE_FOR_FRAMES * mm.get_total_memory(torch.device("cpu")):
        raise ValueError(f"Holding all {frames} {what} needs {needed / 1e9:.1f} GB of RAM: set output_frames to "
                         f"'{LAST_CHUNK}' (the video file still gets every frame).")


def decoding_vae(vae, decode_dtype: str):
    """The VAE that decodes the frames: the user's, or a float32 copy of its weights (built once per run; the user's
    VAE stays as loaded). On a GPU the host loads VAEs in bf16 or fp16, and decoded frames condition the next chunk."""
    if decode_dtype == VAE_DTYPE or vae.vae_dtype == torch.float32:
        return vae
    return comfy.sd.VAE(sd=vae.get_sd(), device=vae.device, dtype=torch.float32)


class FrameStore:
    """The IMAGE output: all frames (held once, preallocated) or the last chunk's new frames."""

    def __init__(self, mode: str, total: int, start: torch.Tensor):
        self.count = 0
        self.frames = torch.empty((total,) + tuple(start.shape[1:]), dtype=start.dtype) if mode == ALL_FRAMES else None
        self.add(start)

    def add(self, frames: torch.Tensor) -> None:
        if self.frames is not None:
            self.frames[self.count:self.count + frames.shape[0]] = frames
        self.count += frames.shape[0]
        self.last = frames

    def result(self) -> torch.Tensor:
        return self.frames if self.frames is not None else self.last


class Progress:
    """One progress bar over a run's units of work (sampler steps, and for the enhancer frames encoded and decoded),
    with a latent preview while sampling; interrupts are honoured at every step."""

    def __init__(self, model, total: int):
        self.done, self.total = 0, total
        self.bar = comfy.utils.ProgressBar(total)
        self.previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)

    def advance(self, n: int, preview=None) -> None:
        self.done += n
        self.bar.update_absolute(self.done, self.total, preview)

    def step_callback(self):
        def step(index, x0, x, total_steps):
            preview = self.previewer.decode_latent_to_preview_image("JPEG", x0[:1]) if self.previewer else None
            self.advance(1, preview)
            mm.throw_exception_if_processing_interrupted()
        return step
