"""The official APM preprocessing run by kornia itself (`FrozenOpenCLIPImageEmbedder.preprocess`): the oracle the
pack's pure-torch version is checked against, and the reference pipeline's image path."""
from __future__ import annotations

import torch

from st2v_modules.models.clip_pixels import CLIP_MEAN, CLIP_STD


def official_preprocess(images: torch.Tensor) -> torch.Tensor:
    """IMAGE frames `[N, H, W, 3]` in [0, 1], mapped to [-1, 1] as the official pipeline does, then preprocessed."""
    import kornia
    x = images.movedim(-1, 1).float() * 2 - 1
    x = kornia.geometry.resize(x, (224, 224), interpolation="bicubic", align_corners=True, antialias=True)
    return kornia.enhance.normalize((x + 1) / 2, torch.tensor(CLIP_MEAN, device=x.device), torch.tensor(CLIP_STD, device=x.device))


def official_image_embeds(clip_vision, images: torch.Tensor) -> torch.Tensor:
    """The pooled, projected embedding of the host's vision tower fed the official pixels."""
    return clip_vision.model(pixel_values=official_preprocess(images))[2]
