"""What StreamingT2V adds beside its denoiser: the CAM and the APM resampler, loaded and offloaded as one."""
from __future__ import annotations

import torch
from torch import nn

from .apm import ImageResampler
from .attention import AttentionFn, sdpa_attention
from .cam import CAM
from .config import UNet3DConfig
from .layers import Ops


class StreamingT2VConditioner(nn.Module):
    def __init__(self, config: UNet3DConfig, frame_encoder_channels: tuple[int, ...], resampler_inner_dim: int,
                 operations: Ops = nn, dtype: torch.dtype | None = None, device=None, attention: AttentionFn = sdpa_attention,
                 compute_dtype: torch.dtype | None = None):
        """`dtype`: the weights'; `compute_dtype`: the one inputs come in, when `operations` cast the weights to it layer
        by layer (e.g. fp8 weights computed in fp32)."""
        super().__init__()
        self.dtype = compute_dtype or dtype or torch.float32
        self.cam = CAM(config, frame_encoder_channels, operations, dtype, device, attention)
        self.resampler = ImageResampler(resampler_inner_dim, config.cross_attention_dim, operations=operations, dtype=dtype, device=device)

    def image_tokens(self, image_embeds: torch.Tensor, batch_size: int) -> torch.Tensor:
        return self.resampler(image_embeds, batch_size)

    def frame_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Conditioning frames in [-1, 1] -> CAM stem features, once per chunk instead of once per step."""
        return self.cam.encode_frames(pixels)
