"""What the next chunk of a video needs, kept losslessly beside it: the anchor frame and the last 8 frames.

The video itself is lossy (h264) or 8-bit (PNG); a resume that conditioned on frames read back from it would drift
from the run it continues. With these exact tensors a resumed run makes the same frames as one never interrupted.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .durable import write_durably

SUFFIX = ".resume.safetensors"


@dataclass
class ResumeFrames:
    anchor: torch.Tensor  # [1, H, W, 3]: the APM's first frame
    tail: torch.Tensor  # [8, H, W, 3]: the CAM's conditioning frames, the video's last ones
    video_frames: int  # the video's length when these were its first and last frames


def save_resume_frames(path: str, frames: ResumeFrames) -> None:
    """Replaces the file whole (written beside it and renamed), so a crash leaves the previous one."""
    data = save({"anchor": frames.anchor.contiguous().cpu(), "tail": frames.tail.contiguous().cpu()},
                metadata={"video_frames": str(frames.video_frames)})
    write_durably(path, lambda f: f.write(data))


def load_resume_frames(path: str) -> ResumeFrames | None:
    """None when the file is missing or not one of ours."""
    if not os.path.isfile(path):
        return None
    try:
        with safe_open(path, framework="pt") as f:
            return ResumeFrames(f.get_tensor("anchor"), f.get_tensor("tail"), int((f.metadata() or {})["video_frames"]))
    except (OSError, SafetensorError, KeyError, ValueError):
        return None
