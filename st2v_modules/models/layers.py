"""Building blocks of the ModelScope UNet3D, keyed exactly like diffusers' `UNet3DConditionModel`.

Every block takes frames in the batch, `[B*F, C, H, W]`, plus the frame count F. Layers are built
from `ops` (torch.nn by default; the host passes its own so it can pick dtypes and offload weights), and every
attention runs `attention` (SDPA by default; the host passes its own, which also honours the patches that arrive
in `transformer_options`, handed down through every forward).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .attention import AttentionFn, sdpa_attention

Ops = Any  # a namespace with Linear, Conv2d, Conv3d, GroupNorm and LayerNorm classes (torch.nn, comfy.ops.*)
Factory = dict[str, Any]  # {"device": ..., "dtype": ...} handed to every layer


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding laid out [cos | sin] (diffusers: flip_sin_to_cos=True, shift 0)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepMLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, ops: Ops, factory: Factory):
        super().__init__()
        self.linear_1 = ops.Linear(in_dim, out_dim, **factory)
        self.linear_2 = ops.Linear(out_dim, out_dim, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


class ResBlock(nn.Module):
    """2D residual block with the timestep embedding added between its two convs."""

    def __init__(self, in_ch: int, out_ch: int, temb_ch: int, groups: int, eps: float, ops: Ops, factory: Factory):
        super().__init__()
        self.norm1 = ops.GroupNorm(groups, in_ch, eps=eps, **factory)
        self.conv1 = ops.Conv2d(in_ch, out_ch, 3, padding=1, **factory)
        self.time_emb_proj = ops.Linear(temb_ch, out_ch, **factory)
        self.norm2 = ops.GroupNorm(groups, out_ch, eps=eps, **factory)
        self.conv2 = ops.Conv2d(out_ch, out_ch, 3, padding=1, **factory)
        self.conv_shortcut = ops.Conv2d(in_ch, out_ch, 1, **factory) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h


class TemporalConv(nn.Module):
    """Four residual 3-tap convolutions along the frame axis.

    Sequential index 2 of conv2..conv4 is the training-time dropout slot (Identity at inference),
    kept so the checkpoint keys `convN.3.*` line up.
    """

    def __init__(self, ch: int, groups: int, ops: Ops, factory: Factory):
        super().__init__()

        def conv(dropout_slot: bool) -> nn.Sequential:
            layers = [ops.GroupNorm(groups, ch, **factory), nn.SiLU()]
            layers += [nn.Identity()] if dropout_slot else []
            return nn.Sequential(*layers, ops.Conv3d(ch, ch, (3, 1, 1), padding=(1, 0, 0), **factory))

        self.conv1 = conv(False)
        self.conv2 = conv(True)
        self.conv3 = conv(True)
        self.conv4 = conv(True)

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        video = rearrange(x, "(b f) c h w -> b c f h w", f=num_frames)
        h = self.conv4(self.conv3(self.conv2(self.conv1(video))))
        return rearrange(video + h, "b c f h w -> (b f) c h w")


class Attention(nn.Module):
    """Multi-head attention with diffusers' parameter names (to_q, to_k, to_v, to_out.0)."""

    def __init__(self, query_dim: int, heads: int, head_dim: int, ops: Ops, factory: Factory, context_dim: int | None = None,
                 attention: AttentionFn = sdpa_attention):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.attend = heads, attention
        self.to_q = ops.Linear(query_dim, inner, bias=False, **factory)
        self.to_k = ops.Linear(context_dim or query_dim, inner, bias=False, **factory)
        self.to_v = ops.Linear(context_dim or query_dim, inner, bias=False, **factory)
        self.to_out = nn.ModuleList([ops.Linear(inner, query_dim, **factory)])

    def key_value_source(self, context: torch.Tensor) -> torch.Tensor:
        """The tokens keys and values are computed from. StreamingT2V's APM overrides this."""
        return context

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, transformer_options: dict | None = None) -> torch.Tensor:
        source = x if context is None else self.key_value_source(context)
        out = self.attend(self.to_q(x), self.to_k(source), self.to_v(source), self.heads, transformer_options=transformer_options)
        return self.to_out[0](out)


class GEGLU(nn.Module):
    def __init__(self, dim: int, inner: int, ops: Ops, factory: Factory):
        super().__init__()
        self.proj = ops.Linear(dim, inner * 2, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, ops: Ops, factory: Factory, mult: int = 4):
        super().__init__()
        # net.1 is the training-time dropout slot
        self.net = nn.Sequential(GEGLU(dim, dim * mult, ops, factory), nn.Identity(), ops.Linear(dim * mult, dim, **factory))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TransformerBlock(nn.Module):
    """Pre-norm self-attention, second attention, GEGLU feed-forward.

    The second attention attends to `context` in spatial transformers and to the frames
    themselves again in temporal ones (ModelScope's "double self-attention").
    """

    def __init__(self, dim: int, heads: int, head_dim: int, ops: Ops, factory: Factory, context_dim: int | None,
                 attention: AttentionFn, cross_attention_cls: type[Attention] = Attention):
        super().__init__()
        self.norm1 = ops.LayerNorm(dim, **factory)
        self.attn1 = Attention(dim, heads, head_dim, ops, factory, attention=attention)
        self.norm2 = ops.LayerNorm(dim, **factory)
        self.attn2 = cross_attention_cls(dim, heads, head_dim, ops, factory, context_dim=context_dim, attention=attention)
        self.norm3 = ops.LayerNorm(dim, **factory)
        self.ff = FeedForward(dim, ops, factory)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, transformer_options: dict | None = None) -> torch.Tensor:
        x = x + self.attn1(self.norm1(x), transformer_options=transformer_options)
        x = x + self.attn2(self.norm2(x), context, transformer_options)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """Per-frame attention over the H*W positions, with cross-attention to the text tokens."""

    def __init__(self, ch: int, head_dim: int, groups: int, context_dim: int, ops: Ops, factory: Factory,
                 attention: AttentionFn, cross_attention_cls: type[Attention] = Attention):
        super().__init__()
        self.norm = ops.GroupNorm(groups, ch, eps=1e-6, **factory)
        self.proj_in = ops.Linear(ch, ch, **factory)
        self.transformer_blocks = nn.ModuleList(
            [TransformerBlock(ch, ch // head_dim, head_dim, ops, factory, context_dim, attention, cross_attention_cls)])
        self.proj_out = ops.Linear(ch, ch, **factory)

    def forward(self, x: torch.Tensor, context: torch.Tensor, transformer_options: dict | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        tokens = self.proj_in(rearrange(self.norm(x), "n c h w -> n (h w) c"))
        for block in self.transformer_blocks:
            tokens = block(tokens, context, transformer_options)
        return x + rearrange(self.proj_out(tokens), "n (h w) c -> n c h w", h=h, w=w)


class TemporalTransformer(nn.Module):
    """Attention across the frames at each position. No positional encoding, as in ModelScope."""

    def __init__(self, ch: int, heads: int, head_dim: int, groups: int, ops: Ops, factory: Factory, attention: AttentionFn):
        super().__init__()
        inner = heads * head_dim
        self.norm = ops.GroupNorm(groups, ch, eps=1e-6, **factory)
        self.proj_in = ops.Linear(ch, inner, **factory)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(inner, heads, head_dim, ops, factory, None, attention)])
        self.proj_out = ops.Linear(inner, ch, **factory)

    def forward(self, x: torch.Tensor, num_frames: int, transformer_options: dict | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        # the norm pools statistics over all frames of a video, so it runs on the 5-D view
        normed = self.norm(rearrange(x, "(b f) c h w -> b c f h w", f=num_frames))
        tokens = self.proj_in(rearrange(normed, "b c f h w -> (b h w) f c"))
        for block in self.transformer_blocks:
            tokens = block(tokens, transformer_options=transformer_options)
        out = rearrange(self.proj_out(tokens), "(b h w) f c -> (b f) c h w", h=h, w=w)
        return x + out


class Downsample(nn.Module):
    def __init__(self, ch: int, ops: Ops, factory: Factory, padding: tuple[int, int] = (1, 1)):
        super().__init__()
        self.conv = ops.Conv2d(ch, ch, 3, stride=2, padding=padding, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, ch: int, ops: Ops, factory: Factory, crop_rows: bool = False):
        super().__init__()
        self.crop_rows = crop_rows
        self.conv = ops.Conv2d(ch, ch, 3, padding=1, **factory)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Nearest-neighbour resize to the matching skip's size (2x, or 2x-1 for odd latents); with `crop_rows`,
        2x and the first and last rows dropped, undoing the two extra rows of a row-padded downsample."""
        if self.crop_rows:
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest")[..., 1:-1, :])
        return self.conv(F.interpolate(x, size=size, mode="nearest"))
