"""The ModelScope text-to-video UNet3D (diffusers' `UNet3DConditionModel`), frames in the batch.

StreamingT2V reuses it twice: its base UNet adds skip mergers between `encode` and `decode`
and an image-token mix inside the spatial cross-attentions (a different `cross_attention_cls`),
and its CAM is this network without the decoder (`with_decoder=False`), with frame features added
after the `stem`.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .blocks import DownLevel, MidLevel, UpLevel
from .config import CROSS_ATTN_DOWN, CROSS_ATTN_UP, UNet3DConfig
from .attention import AttentionFn, sdpa_attention
from .layers import Attention, Ops, TemporalTransformer, TimestepMLP, timestep_embedding


class UNet3D(nn.Module):
    def __init__(self, config: UNet3DConfig, operations: Ops = nn, dtype: torch.dtype | None = None, device: Any = None,
                 with_decoder: bool = True, cross_attention_cls: type[Attention] = Attention, single_frame_attention: bool = True,
                 attention: AttentionFn = sdpa_attention):
        """`single_frame_attention=False` skips `transformer_in` for one-frame inputs, as the official StreamingT2V
        UNet and CAM do (diffusers runs it always). `attention` runs every attention (the host passes its own)."""
        super().__init__()
        self.config = config
        self.single_frame_attention = single_frame_attention
        self.dtype = dtype or torch.float32
        factory = {"device": device, "dtype": dtype}
        ops = operations
        c = config
        chs = c.block_out_channels
        level_kw = dict(temb_ch=c.time_embed_dim, head_dim=c.attention_head_dim, groups=c.norm_num_groups, eps=c.norm_eps,
                        context_dim=c.cross_attention_dim, ops=ops, factory=factory, attention=attention,
                        cross_attention_cls=cross_attention_cls)

        self.conv_in = ops.Conv2d(c.in_channels, chs[0], 3, padding=1, **factory)
        self.time_embedding = TimestepMLP(chs[0], c.time_embed_dim, ops, factory)
        self.transformer_in = TemporalTransformer(chs[0], c.transformer_in_heads, c.attention_head_dim, c.norm_num_groups, ops,
                                                  factory, attention)

        skip_chs = [chs[0]]
        self.down_blocks = nn.ModuleList()
        for i, (kind, ch) in enumerate(zip(c.down_block_types, chs)):
            last = i == len(chs) - 1
            in_ch = chs[max(i - 1, 0)]
            attention_layers = c.layers_per_block if kind == CROSS_ATTN_DOWN else 0
            self.down_blocks.append(DownLevel(in_ch, ch, c.layers_per_block, not last, row_padded=c.row_padded_resampling,
                                              attention_layers=attention_layers, **level_kw))
            skip_chs += [ch] * c.layers_per_block + ([] if last else [ch])
        self.mid_block = MidLevel(chs[-1], **level_kw)

        self.up_blocks = None
        if with_decoder:
            self.up_blocks = nn.ModuleList()
            prev_ch = chs[-1]
            for i, (kind, ch) in enumerate(zip(c.up_block_types, reversed(chs))):
                n = c.layers_per_block + 1
                level_skips, skip_chs = skip_chs[-n:][::-1], skip_chs[:-n]
                attention_layers = n if kind == CROSS_ATTN_UP else 0
                self.up_blocks.append(UpLevel(prev_ch, ch, level_skips, i < len(chs) - 1, row_padded=c.row_padded_resampling,
                                              attention_layers=attention_layers, **level_kw))
                prev_ch = ch
            self.conv_norm_out = ops.GroupNorm(c.norm_num_groups, chs[0], eps=c.norm_eps, **factory)
            self.conv_out = ops.Conv2d(chs[0], c.out_channels, 3, padding=1, **factory)

    def embed(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame timestep embedding and text context, both `[B*F, ...]`."""
        n = x.shape[0]
        if n % num_frames:
            raise ValueError(f"UNet3D: a batch of {n} frames does not split into videos of {num_frames} frames")
        per_frame = lambda t: t if t.shape[0] == n else t.repeat_interleave(n // t.shape[0], dim=0)  # noqa: E731
        timesteps = timesteps.reshape(-1).to(x.device)
        timesteps = per_frame(timesteps.expand(n // num_frames) if timesteps.numel() == 1 else timesteps)
        temb = self.time_embedding(timestep_embedding(timesteps, self.config.block_out_channels[0]).to(x.dtype))
        return temb, per_frame(context)

    def stem(self, x: torch.Tensor, num_frames: int, transformer_options: dict | None = None) -> torch.Tensor:
        """Input conv and the first attention across frames."""
        h = self.conv_in(x)
        return self.transformer_in(h, num_frames, transformer_options) if num_frames > 1 or self.single_frame_attention else h

    def encode(self, h: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, num_frames: int,
               transformer_options: dict | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The down levels after the stem; returns the hidden state and every skip tensor (the stem output first)."""
        skips = [h]
        for level in self.down_blocks:
            h, level_skips = level(h, temb, context, num_frames, transformer_options)
            skips += level_skips
        return h, skips

    def decode(self, h: torch.Tensor, skips: list[torch.Tensor], temb: torch.Tensor, context: torch.Tensor, num_frames: int,
               transformer_options: dict | None = None) -> torch.Tensor:
        for level in self.up_blocks:
            n = len(level.resnets)
            upsample_size = skips[-n - 1].shape[-2:] if len(skips) > n else None
            h = level(h, skips, temb, context, num_frames, upsample_size, transformer_options)
        return self.conv_out(nn.functional.silu(self.conv_norm_out(h)))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, num_frames: int,
                control: Any = None, transformer_options: dict | None = None) -> torch.Tensor:
        """Predict noise for `x` `[B*F, C, h, w]` (frames of each video adjacent) at `timesteps`.

        `timesteps` is a scalar, one per video or one per frame; `context` `[B or B*F, tokens, dim]`;
        `transformer_options` (the host's) reach every attention.
        """
        if control is not None:
            raise ValueError("The ModelScope UNet3D takes no ControlNet; remove the ControlNet from this MODEL's conditioning.")
        temb, context = self.embed(x, timesteps, context, num_frames)
        h, skips = self.encode(self.stem(x, num_frames, transformer_options), temb, context, num_frames, transformer_options)
        h = self.mid_block(h, temb, context, num_frames, transformer_options)
        return self.decode(h, skips, temb, context, num_frames, transformer_options)
