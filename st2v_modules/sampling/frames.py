"""Frame and resolution arithmetic for frames-in-batch video latents."""
from __future__ import annotations

LATENT_CHANNELS = 4
VAE_FACTOR = 8


def empty_video_latent_shape(frames: int, width: int, height: int) -> tuple[int, int, int, int]:
    """`[frames, 4, height/8, width/8]`, refusing sizes the VAE cannot represent."""
    if frames < 1:
        raise ValueError(f"frames is {frames}; a video needs at least 1 frame (StreamingT2V chunks have 16).")
    for name, value in (("width", width), ("height", height)):
        if value < VAE_FACTOR or value % VAE_FACTOR:
            fit = max(VAE_FACTOR, round(value / VAE_FACTOR) * VAE_FACTOR)
            raise ValueError(f"{name} is {value}; it must be a multiple of {VAE_FACTOR} (the VAE works on "
                             f"{VAE_FACTOR}x{VAE_FACTOR} pixel blocks): use {fit}.")
    return frames, LATENT_CHANNELS, height // VAE_FACTOR, width // VAE_FACTOR


FINITE_CHECK_FRAMES = 64  # frames checked at once: a long video is not copied whole


def check_video_frames(frames, name: str, minimum: int):
    """An IMAGE batch the CAM can condition on: enough frames, sides on the VAE grid, every value a number.
    Returns its RGB channels."""
    if frames.shape[0] < minimum:
        raise ValueError(f"{name} has {frames.shape[0]} frames; the CAM needs the last {minimum}: pass at least {minimum} "
                         "frames (a ModelScope chunk has 16).")
    height, width = frames.shape[1:3]
    if height % VAE_FACTOR or width % VAE_FACTOR:
        raise ValueError(f"{name} are {width}x{height}; both sides must be multiples of {VAE_FACTOR} (StreamingT2V: "
                         "256x256): resize them first, e.g. with Upscale Image.")
    for first in range(0, frames.shape[0], FINITE_CHECK_FRAMES):
        bad = ~frames[first:first + FINITE_CHECK_FRAMES].isfinite()
        if bad.any():
            frame = first + int(bad.flatten(1).any(1).nonzero()[0])
            raise ValueError(f"{name} has NaN or infinite values (first in frame {frame}); every new frame would be NaN. "
                             "Check the node that made them (e.g. a VAE Decode in fp16 that overflowed: try fp32 or bf16).")
    return frames[..., :3]
