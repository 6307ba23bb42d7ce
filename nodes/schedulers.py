"""The official schedules of both stages as host schedulers, so the core KSampler, BasicScheduler and the pack's
nodes all offer them by name."""
from __future__ import annotations

import torch

import comfy.samplers

from ..st2v_modules.sampling.timesteps import official_ddim_timesteps, official_stage1_timesteps

STAGE1_SCHEDULER = "streamingt2v_stage1"  # with dpmpp_2m: the official first chunk (DPM-Solver++ 2M)
DDIM_SCHEDULER = "streamingt2v_ddim"  # with euler_ancestral: the official extension steps (DDIM, eta 1)


def stage1_sigmas(model_sampling, steps: int) -> torch.Tensor:
    """The sigmas of the official first-chunk timesteps (999, 979, ..., 20 for 50 steps), then 0."""
    sigmas = model_sampling.sigmas
    return torch.cat([sigmas[official_stage1_timesteps(steps)], sigmas.new_zeros(1)]).float()


def ddim_sigmas(model_sampling, steps: int) -> torch.Tensor:
    """The sigmas of the official DDIM timesteps (981 ... 1); it ends at t = 0's sigma, not at 0."""
    sigmas = model_sampling.sigmas
    return torch.cat([sigmas[official_ddim_timesteps(steps)], sigmas[:1]]).float()


SCHEDULERS = {STAGE1_SCHEDULER: stage1_sigmas, DDIM_SCHEDULER: ddim_sigmas}


def register_schedulers() -> None:
    """Add the schedules to the host's list (kept once when the pack loads twice); every scheduler combo reads it."""
    for name, handler in SCHEDULERS.items():
        comfy.samplers.SCHEDULER_HANDLERS[name] = comfy.samplers.SchedulerHandler(handler)
        if name not in comfy.samplers.SCHEDULER_NAMES:
            comfy.samplers.SCHEDULER_NAMES.append(name)
