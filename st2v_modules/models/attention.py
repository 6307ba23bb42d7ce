"""The one attention function every layer of the pack goes through, and its signature, so a host can inject its own."""
from typing import Callable

import torch
import torch.nn.functional as F

# (q, k, v, heads, transformer_options=...) -> out over `[batch, tokens, heads * dim]`: ComfyUI's `optimized_attention`
# has this signature, and patches installed through `transformer_options` reach it.
AttentionFn = Callable[..., torch.Tensor]


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, transformer_options: dict | None = None,
              **_) -> torch.Tensor:
    """Multi-head softmax attention over `[batch, tokens, heads * dim]` tensors via SDPA (the pure-PyTorch default).

    No mask and the default 1/sqrt(dim) scale: the ModelScope and StreamingT2V layers use neither.
    """
    q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).flatten(2)
