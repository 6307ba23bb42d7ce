"""The official integer timesteps of both StreamingT2V stages, from the damo-vilab scheduler config (spec 2.1, 2.3)."""
from __future__ import annotations

import torch

TRAIN_TIMESTEPS = 1000
STEPS_OFFSET = 1


def official_ddim_timesteps(steps: int) -> list[int]:
    """Stage 2, DDIM with diffusers' "leading" spacing and steps_offset 1. 50 steps: 981, 961, ..., 21, 1; the last
    step goes to t = 0 (not to a clean sample) because `set_alpha_to_one` is false."""
    ratio = TRAIN_TIMESTEPS // steps
    return [i * ratio + STEPS_OFFSET for i in reversed(range(steps))]


def official_stage1_timesteps(steps: int) -> list[int]:
    """Stage 1, DPMSolverMultistepScheduler built from the DDIM config: its own default "linspace" spacing over
    [0, 999] with the 0 dropped. 50 steps: 999, 979, ..., 40, 20; the last step goes to sigma 0."""
    last = TRAIN_TIMESTEPS - 1
    grid = torch.arange(steps + 1, dtype=torch.float64) * (last / steps)  # numpy's linspace, bit for bit
    grid[-1] = last
    return grid.round().flip(0)[:-1].long().tolist()
