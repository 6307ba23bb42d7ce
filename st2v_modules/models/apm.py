"""APM, the appearance preservation module: anchor-frame CLIP embedding -> 16 tokens mixed into the text tokens.

The mix is the one of the official xformers attention processor (spec 1.5c, 1.6): the official
PyTorch fallback ignores it and attends to all 93 tokens, which is wrong and not reproduced.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import AttentionFn, sdpa_attention
from .layers import Attention, Factory, Ops

TEXT_TOKENS = 77
IMAGE_TOKENS = 16


class ImageResampler(nn.Module):
    """Pooled CLIP image embeddings of each video's anchor frames -> `IMAGE_TOKENS` context tokens.

    Official `ImgEmbContextResampler`: mean over the frames, Linear, SiLU, Linear, reshape.
    """

    def __init__(self, inner_dim: int, context_dim: int = 1024, tokens: int = IMAGE_TOKENS, operations: Ops = nn,
                 dtype: torch.dtype | None = None, device=None):
        super().__init__()
        factory = {"dtype": dtype, "device": device}
        self.tokens, self.context_dim = tokens, context_dim
        self.context_embedding = nn.Sequential(operations.Linear(context_dim, inner_dim, **factory), nn.SiLU(),
                                               operations.Linear(inner_dim, context_dim * tokens, **factory))

    def forward(self, image_embeds: torch.Tensor, batch_size: int) -> torch.Tensor:
        """`[batch * frames, dim]` (batch major) -> `[batch, tokens, dim]`."""
        pooled = image_embeds.unflatten(0, (batch_size, -1)).mean(dim=1)
        return self.context_embedding(pooled).view(batch_size, self.tokens, self.context_dim)


class ImageTokenCrossAttention(Attention):
    """Text cross-attention whose keys and values come from the 77 text tokens plus a gated mix of all 93 tokens.

    `conv` maps the 93 tokens (as channels) to 77 along the feature axis; `alpha` starts at 0, so an
    untrained layer is the plain text cross-attention.
    """

    def __init__(self, query_dim: int, heads: int, head_dim: int, ops: Ops, factory: Factory, context_dim: int | None = None,
                 attention: AttentionFn = sdpa_attention):
        super().__init__(query_dim, heads, head_dim, ops, factory, context_dim, attention)
        self.conv = ops.Conv1d(TEXT_TOKENS + IMAGE_TOKENS, TEXT_TOKENS, 3, padding=1, **factory)
        self.conv_ln = ops.LayerNorm(context_dim, **factory)
        self.alpha = nn.Parameter(torch.zeros((), **factory))

    def key_value_source(self, context: torch.Tensor) -> torch.Tensor:
        if context.shape[1] != TEXT_TOKENS + IMAGE_TOKENS:
            raise ValueError(f"The StreamingT2V UNet needs {TEXT_TOKENS} text + {IMAGE_TOKENS} image tokens, got "
                             f"{context.shape[1]}: condition the prompts with the StreamingT2V Conditioning node.")
        mixed = self.conv_ln(self.conv(context))
        return context[:, :TEXT_TOKENS] + mixed * F.silu(self.alpha.to(mixed.dtype))
