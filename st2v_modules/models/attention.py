"""The one attention function every layer of the pack goes through."""
import torch
import torch.nn.functional as F


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """Multi-head softmax attention over `[batch, tokens, heads * dim]` tensors via SDPA.

    No mask and the default 1/sqrt(dim) scale: the ModelScope and StreamingT2V layers use neither.
    """
    q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).flatten(2)
