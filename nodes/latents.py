"""Empty video latents: frames in the batch, as the core VAE and sampler nodes expect."""
from __future__ import annotations

import torch

import comfy.model_management as mm
from comfy_api.latest import io

from ..st2v_modules.sampling.frames import empty_video_latent_shape

MAX_FRAMES = 16384
MAX_SIZE = 8192


class EmptyVideoLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_EmptyVideoLatent",
            display_name="Empty Video Latent (StreamingT2V)",
            category="StreamingT2V/latent",
            description="Zeros for a video of `frames` frames; each frame is one batch entry, so core VAE Decode "
                        "returns the frames as an IMAGE batch.",
            inputs=[
                io.Int.Input("frames", default=16, min=1, max=MAX_FRAMES, tooltip="Frames in the video (ModelScope: 16 per chunk)."),
                io.Int.Input("width", default=256, min=8, max=MAX_SIZE, step=8, tooltip="Width in pixels, a multiple of 8 (StreamingT2V: 256)."),
                io.Int.Input("height", default=256, min=8, max=MAX_SIZE, step=8, tooltip="Height in pixels, a multiple of 8 (StreamingT2V: 256)."),
            ],
            outputs=[io.Latent.Output(tooltip="A [frames, 4, height/8, width/8] latent.")],
        )

    @classmethod
    def validate_inputs(cls, frames: int, width: int, height: int) -> bool | str:
        try:
            empty_video_latent_shape(frames, width, height)
        except ValueError as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, frames: int, width: int, height: int) -> io.NodeOutput:
        shape = empty_video_latent_shape(frames, width, height)
        return io.NodeOutput({"samples": torch.zeros(shape, device=mm.intermediate_device())})
