"""Bounds for comparing two float computations of the same thing: relative to the output's scale and to the dtype's
precision, never a bare absolute number (outputs of the tiny models range from 1 to hundreds)."""
from __future__ import annotations

import torch

FLOAT32_EPS = torch.finfo(torch.float32).eps
# The same float32 network evaluated with its sums in another order (batched against separate calls, one thread
# against two, another attention kernel): measured up to 6e-6 of the output's largest value on the tiny UNets.
# A wrong computation is off by 1e-2 and more.
FLOAT32_REORDERED = 1e-4


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """The largest difference in units of the reference's largest magnitude."""
    return ((ours.float() - reference.float()).abs().max() / reference.float().abs().max()).item()


def ulps_of_scale(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """The largest difference in float32 rounding steps at the reference's scale (for elementwise arithmetic)."""
    return relative_error(ours, reference) / FLOAT32_EPS
