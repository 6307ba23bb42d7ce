"""The official stage-2 DDIM timesteps (spec 2.3): diffusers' "leading" spacing with steps_offset 1, ending at
t = 0's noise level because `set_alpha_to_one` is false."""
from __future__ import annotations

TRAIN_TIMESTEPS = 1000
STEPS_OFFSET = 1


def official_ddim_timesteps(steps: int) -> list[int]:
    """50 steps: 981, 961, ..., 21, 1; the last step goes to t = 0 (not to a clean sample)."""
    ratio = TRAIN_TIMESTEPS // steps
    return [i * ratio + STEPS_OFFSET for i in reversed(range(steps))]
