"""The UNet3D's resolution levels: each layer is ResBlock -> TemporalConv [-> spatial -> temporal transformer]."""
from __future__ import annotations

import torch
from torch import nn

from .attention import AttentionFn
from .layers import Attention, Downsample, Factory, Ops, ResBlock, SpatialTransformer, TemporalConv, TemporalTransformer, Upsample


class Level(nn.Module):
    """A stack of layers at one resolution, keyed like diffusers' 3D blocks."""

    def __init__(self, in_channels: list[int], ch: int, temb_ch: int, attention_layers: int, head_dim: int, groups: int,
                 eps: float, context_dim: int, ops: Ops, factory: Factory, attention: AttentionFn,
                 cross_attention_cls: type[Attention]):
        super().__init__()
        self.resnets = nn.ModuleList([ResBlock(c, ch, temb_ch, groups, eps, ops, factory) for c in in_channels])
        self.temp_convs = nn.ModuleList([TemporalConv(ch, groups, ops, factory) for _ in in_channels])
        self.attentions = self.temp_attentions = None
        if attention_layers:
            self.attentions = nn.ModuleList([
                SpatialTransformer(ch, head_dim, groups, context_dim, ops, factory, attention, cross_attention_cls)
                for _ in range(attention_layers)])
            self.temp_attentions = nn.ModuleList([
                TemporalTransformer(ch, ch // head_dim, head_dim, groups, ops, factory, attention) for _ in range(attention_layers)])

    def layer(self, i: int, h: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, num_frames: int,
              transformer_options: dict | None) -> torch.Tensor:
        h = self.temp_convs[i](self.resnets[i](h, temb), num_frames)
        if self.attentions is not None and i < len(self.attentions):
            h = self.attentions[i](h, context, transformer_options)
            h = self.temp_attentions[i](h, num_frames, transformer_options)
        return h


class DownLevel(Level):
    def __init__(self, in_ch: int, ch: int, num_layers: int, downsample: bool, row_padded: bool = False, **kw):
        super().__init__([in_ch] + [ch] * (num_layers - 1), ch, **kw)
        padding = (2, 1) if row_padded else (1, 1)
        self.downsamplers = nn.ModuleList([Downsample(ch, kw["ops"], kw["factory"], padding)]) if downsample else None

    def forward(self, h: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, num_frames: int,
                transformer_options: dict | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for i in range(len(self.resnets)):
            h = self.layer(i, h, temb, context, num_frames, transformer_options)
            skips.append(h)
        if self.downsamplers is not None:
            h = self.downsamplers[0](h)
            skips.append(h)
        return h, skips


class UpLevel(Level):
    def __init__(self, prev_ch: int, ch: int, skip_chs: list[int], upsample: bool, row_padded: bool = False, **kw):
        in_channels = [(prev_ch if i == 0 else ch) + s for i, s in enumerate(skip_chs)]
        super().__init__(in_channels, ch, **kw)
        self.upsamplers = nn.ModuleList([Upsample(ch, kw["ops"], kw["factory"], crop_rows=row_padded)]) if upsample else None

    def forward(self, h: torch.Tensor, skips: list[torch.Tensor], temb: torch.Tensor, context: torch.Tensor, num_frames: int,
                upsample_size: tuple[int, int] | None, transformer_options: dict | None = None) -> torch.Tensor:
        """Consumes `skips` from the end, deepest first."""
        for i in range(len(self.resnets)):
            h = self.layer(i, torch.cat([h, skips.pop()], dim=1), temb, context, num_frames, transformer_options)
        if self.upsamplers is not None:
            h = self.upsamplers[0](h, upsample_size)
        return h


class MidLevel(Level):
    """A layer with attention, then one without: diffusers' `UNetMidBlock3DCrossAttn`."""

    def __init__(self, ch: int, **kw):
        super().__init__([ch, ch], ch, attention_layers=1, **kw)

    def forward(self, h: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, num_frames: int,
                transformer_options: dict | None = None) -> torch.Tensor:
        h = self.layer(0, h, temb, context, num_frames, transformer_options)
        return self.layer(1, h, temb, context, num_frames, transformer_options)
