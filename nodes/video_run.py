"""What every run that writes a video shares (StreamingT2V Extend and Enhance): where the file goes, the pre-flight
checks, the frames the node returns, and one progress bar with animated previews."""
from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import threading
from collections.abc import Callable, Iterator

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
    with an animated preview while sampling; interrupts are honoured at every step.

    The preview is the frames being made (a chunk's new frames, the enhancer's current window), decoded at every
    step by the host's previewer (Latent2RGB or TAESD, as --preview-method says) and shown one after another at the
    video's frame rate through the host's own progress preview. VideoHelperSuite paces a video latent's frames the
    same way but needs its own frontend code to play them; sent as the host's previews, any frontend shows them in
    turn, as it shows a sampler's preview."""

    def __init__(self, model, total: int, fps: float):
        self.done, self.total, self.interval = 0, total, 1 / fps
        self.bar = comfy.utils.ProgressBar(total)
        self.previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)
        self.frames, self.shown = [], 0
        self.lock = threading.Lock()  # the player thread and the sampler share the bar

    def advance(self, n: int, preview: bool = False) -> None:
        with self.lock:
            self.done += n
            self.bar.update_absolute(self.done, self.total, self._next_frame() if preview else None)

    def _next_frame(self):
        if not self.frames:
            return None
        frame = self.frames[self.shown % len(self.frames)]
        self.shown += 1
        return "JPEG", frame, latent_preview.MAX_PREVIEW_RESOLUTION

    @contextlib.contextmanager
    def sampling(self, frames: Callable[[int, torch.Tensor], torch.Tensor]) -> Iterator[Callable]:
        """The sampler's step callback for the span of one sampler run; `frames(step, x0)` picks the latent frames to
        preview. The player runs while the sampler does and stops with it, whatever ends it."""
        stop = threading.Event()
        player = threading.Thread(target=contextvars.copy_context().run, args=(self._play, stop), daemon=True)

        def step(index, x0, x, total_steps):
            if self.previewer is not None:
                decoded = [self.previewer.decode_latent_to_preview(frame[None]) for frame in frames(index, x0)]
                with self.lock:
                    self.frames = decoded
                if player.ident is None:
                    player.start()
            self.advance(1, preview=True)
            mm.throw_exception_if_processing_interrupted()

        try:
            yield step
        finally:
            stop.set()
            if player.ident is not None:
                player.join()
            with self.lock:
                self.frames = []

    def _play(self, stop: threading.Event) -> None:
        """Between steps, the next frame every 1/fps s (the copied context tells the host's hook which node this is)."""
        while not stop.wait(self.interval) and not mm.processing_interrupted():
            try:
                with self.lock:
                    self.bar.update_absolute(self.done, self.total, self._next_frame())
            except mm.InterruptProcessingException:  # the host's hook took the cancel: the sampler's next step raises it
                mm.interrupt_current_processing()
                return
