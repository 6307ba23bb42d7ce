"""CAM merger: each frame of a skip tensor attends, per pixel, across the CAM's conditioning-frame features.

Official `ConditionalModel("cross_attention")` (spec 1.4): queries are GroupNorm (pooled over all
frames) + Linear of the base UNet's features, keys/values the raw CAM features, heads of width 64,
no positional encoding; `proj_out` is zero at initialisation so the merger starts as identity.
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .attention import AttentionFn
from .layers import Attention, Factory, Ops

MERGER_HEAD_DIM = 64
MERGER_NORM_GROUPS = 32  # fixed in the official class, whatever the UNet's norm groups


class MergerAttention(nn.Module):
    def __init__(self, ch: int, ops: Ops, factory: Factory, attention: AttentionFn):
        super().__init__()
        self.norm = ops.GroupNorm(MERGER_NORM_GROUPS, ch, eps=1e-6, **factory)
        self.proj_in = ops.Linear(ch, ch, **factory)
        self.attention = Attention(ch, max(ch // MERGER_HEAD_DIM, 1), MERGER_HEAD_DIM, ops, factory, context_dim=ch, attention=attention)
        self.proj_out = ops.Linear(ch, ch, **factory)

    def forward(self, x: torch.Tensor, cam: torch.Tensor, num_frames: int, cam_frames: int,
                transformer_options: dict | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        normed = self.norm(rearrange(x, "(b f) c h w -> b c f h w", f=num_frames))
        queries = self.proj_in(rearrange(normed, "b c f h w -> (b h w) f c"))
        keys = rearrange(cam, "(b f) c h w -> (b h w) f c", f=cam_frames)
        out = self.proj_out(self.attention(queries, keys, transformer_options))
        return x + rearrange(out, "(b h w) f c -> (b f) c h w", h=h, w=w)


class SkipMerger(nn.Module):
    """Keyed `temporal_transformer.*` like the official checkpoint."""

    def __init__(self, ch: int, ops: Ops, factory: Factory, attention: AttentionFn):
        super().__init__()
        self.temporal_transformer = MergerAttention(ch, ops, factory, attention)

    def forward(self, x: torch.Tensor, cam: torch.Tensor, num_frames: int, cam_frames: int,
                transformer_options: dict | None = None) -> torch.Tensor:
        return self.temporal_transformer(x, cam, num_frames, cam_frames, transformer_options)
