"""The StreamingT2V denoiser: the ModelScope UNet3D with image tokens in its text cross-attentions (APM)
and CAM features merged into every skip connection and the mid-block output (spec 1.4, 1.5).
"""
from __future__ import annotations

import torch
from torch import nn

from .apm import ImageTokenCrossAttention
from .attention import AttentionFn, sdpa_attention
from .cam import CAMOutput
from .config import UNet3DConfig
from .layers import Ops
from .merger import SkipMerger
from .unet3d import UNet3D


class StreamingUNet3D(UNet3D):
    def __init__(self, config: UNet3DConfig, operations: Ops = nn, dtype: torch.dtype | None = None, device=None,
                 attention: AttentionFn = sdpa_attention):
        if config.layers_per_block != 2:  # the official mergers come three per level, one per skip
            raise ValueError("StreamingT2V's CAM mergers need 2 layers per block (3 skips per level)")
        super().__init__(config, operations, dtype, device, cross_attention_cls=ImageTokenCrossAttention,
                         single_frame_attention=False, attention=attention)
        factory = {"dtype": dtype, "device": device}
        chs = config.block_out_channels
        merger_channels = [c for i, ch in enumerate(chs) for c in (chs[max(i - 1, 0)], ch, ch)]
        self.cross_attention_merger_down_blocks = nn.ModuleList([SkipMerger(c, operations, factory, attention)
                                                                 for c in merger_channels])
        self.cross_attention_merger_mid_block = SkipMerger(chs[-1], operations, factory, attention)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, num_frames: int,
                cam: CAMOutput | None = None, transformer_options: dict | None = None) -> torch.Tensor:
        """As `UNet3D.forward`, with `context` of 77 text + 16 image tokens and the CAM's output for this step."""
        temb, context = self.embed(x, timesteps, context, num_frames)
        h, skips = self.encode(self.stem(x, num_frames, transformer_options), temb, context, num_frames, transformer_options)
        h = self.mid_block(h, temb, context, num_frames, transformer_options)
        if cam is not None:
            merge = lambda m, s, r: m(s, r, num_frames, cam.cam_frames, transformer_options)  # noqa: E731
            skips = [merge(m, s, r) for m, s, r in zip(self.cross_attention_merger_down_blocks, skips, cam.skips)]
            h = merge(self.cross_attention_merger_mid_block, h, cam.mid)
        return self.decode(h, skips, temb, context, num_frames, transformer_options)
