"""CAM, the conditional attention module: a ControlNet-style copy of the UNet3D encoder that reads the
previous chunk's last frames (decoded pixels in [-1, 1]) and returns one feature map per skip connection.

Official `ControlNetModel` with the shipped config (spec 1.4): frame encoder output added after the
stem ("addition"), identity zero-convs, text tokens only, and it sees only the first `cam_frames`
noisy latent frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .apm import TEXT_TOKENS
from .attention import AttentionFn, sdpa_attention
from .config import UNet3DConfig
from .layers import Ops
from .unet3d import UNet3D

OFFICIAL_FRAME_ENCODER_CHANNELS = (32, 96, 256, 512)


@dataclass
class CAMOutput:
    """One feature map per base-UNet skip connection plus the mid-block one, `[B*cam_frames, C, h, w]` each."""
    skips: list[torch.Tensor]
    mid: torch.Tensor
    cam_frames: int


class FrameEncoder(nn.Module):
    """Pixels -> stem-sized features: conv, then (conv, strided conv) pairs, SiLU after each; `conv_out` linear."""

    def __init__(self, out_channels: int, channels: tuple[int, ...], operations: Ops, factory: dict):
        super().__init__()
        self.conv_in = operations.Conv2d(3, channels[0], 3, padding=1, **factory)
        self.blocks = nn.ModuleList()
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            self.blocks.append(operations.Conv2d(c_in, c_in, 3, padding=1, **factory))
            self.blocks.append(operations.Conv2d(c_in, c_out, 3, padding=1, stride=2, **factory))
        self.conv_out = operations.Conv2d(channels[-1], out_channels, 3, padding=1, **factory)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.conv_in(pixels))
        for block in self.blocks:
            h = F.silu(block(h))
        return self.conv_out(h)


class CAM(UNet3D):
    def __init__(self, config: UNet3DConfig, frame_encoder_channels: tuple[int, ...] = OFFICIAL_FRAME_ENCODER_CHANNELS,
                 operations: Ops = nn, dtype: torch.dtype | None = None, device=None, attention: AttentionFn = sdpa_attention):
        super().__init__(config, operations, dtype, device, with_decoder=False, single_frame_attention=False, attention=attention)
        self.controlnet_cond_embedding = FrameEncoder(config.block_out_channels[0], frame_encoder_channels, operations,
                                                      {"dtype": dtype, "device": device})

    def encode_frames(self, pixels: torch.Tensor) -> torch.Tensor:
        """Conditioning frames `[B*cam_frames, 3, H, W]` in [-1, 1] -> features; constant over a chunk's steps."""
        return self.controlnet_cond_embedding(pixels)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, frame_features: torch.Tensor,
                cam_frames: int, transformer_options: dict | None = None) -> CAMOutput:
        """`x`: the first `cam_frames` noisy latent frames of each video; `context`: text tokens (image tokens are cut)."""
        temb, context = self.embed(x, timesteps, context[:, :TEXT_TOKENS], cam_frames)
        h = self.stem(x, cam_frames, transformer_options) + frame_features
        h, skips = self.encode(h, temb, context, cam_frames, transformer_options)
        return CAMOutput(skips, self.mid_block(h, temb, context, cam_frames, transformer_options), cam_frames)


def first_frames(t: torch.Tensor, num_frames: int, count: int) -> torch.Tensor:
    """The first `count` of every `num_frames` rows of a frames-in-batch tensor."""
    return t.unflatten(0, (-1, num_frames))[:, :count].flatten(0, 1)


def run_cam(cam: CAM, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, num_frames: int,
            frame_features: torch.Tensor, transformer_options: dict | None = None) -> CAMOutput:
    """The CAM on the first frames of each video of a base-UNet batch, as the official pipeline feeds it.

    `frame_features` come from `cam.encode_frames`, `[videos * cam_frames, C, h, w]`.
    """
    videos = x.shape[0] // num_frames
    cam_frames = frame_features.shape[0] // videos
    if cam_frames > num_frames or frame_features.shape[0] != videos * cam_frames:
        raise ValueError(f"{frame_features.shape[0]} conditioning-frame features do not fit {videos} videos of {num_frames} frames")
    per_frame = lambda t: first_frames(t, num_frames, cam_frames) if t.shape[0] == x.shape[0] else t  # noqa: E731
    return cam(per_frame(x), per_frame(timesteps.reshape(-1)) if timesteps.numel() > 1 else timesteps,
               per_frame(context), frame_features, cam_frames, transformer_options)
