"""The blending fixture's toy enhancer: a smooth latent video re-noised to the official level 600 and sampled with the
official 30-step grid by a tiny denoiser whose estimate depends on the chunk it sees (v = tanh(x/2 + mean over the
chunk's frames of x/2)), so chunks that are denoised apart disagree where they meet."""
from __future__ import annotations

from collections.abc import Callable

import torch

from st2v_modules.sampling.blending import BlendPlan, blend_chunks, draw_cuts
from st2v_modules.sampling.enhancer_schedule import official_sigmas, sigma_to_t, vp_sigmas

VP = vp_sigmas()
ALPHAS, SIGMAS = (1 - VP**2).sqrt(), official_sigmas(VP)
Denoise = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]  # (x, sigma, generator) -> x0


def noisy_video(frames: int) -> torch.Tensor:
    """The sampler's start: a brightening pattern plus one noise frame shared by every frame, at the first sigma."""
    ramp = torch.linspace(0, 0.5, frames)[:, None, None, None]
    pattern = torch.sin(torch.linspace(0, 6, 16))[None, :] + torch.cos(torch.linspace(0, 4, 10))[:, None]
    clean = (ramp + 0.5 * pattern).expand(frames, 4, 10, 16)
    noise = torch.randn((1, 4, 10, 16), generator=torch.Generator().manual_seed(0)).expand_as(clean)
    return clean + SIGMAS[0] * noise


def x0_estimate(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    t = sigma_to_t(sigma, VP).round().long()
    xt = x / (sigma**2 + 1).sqrt()
    return ALPHAS[t] * xt - VP[t] * torch.tanh(0.5 * xt + 0.5 * xt.mean(dim=0, keepdim=True))


def sample(denoise: Denoise, x: torch.Tensor, blend_seed: int = 1) -> torch.Tensor:
    """Euler on the grid, the cuts drawn from `blend_seed`."""
    generator = torch.Generator().manual_seed(blend_seed)
    for sigma, next_sigma in zip(SIGMAS[:-1], SIGMAS[1:]):
        x0 = denoise(x, sigma, generator)
        x = x0 if next_sigma == 0 else x + (x - x0) / sigma * (next_sigma - sigma)
    return x


def randomized_blending(x: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One model evaluation as the enhancer does it: 24-frame chunks overlapping by 8, cut at fresh random frames."""
    plan = BlendPlan(x.shape[0])
    return blend_chunks(lambda a, b: x0_estimate(x[a:b], sigma), plan, draw_cuts(plan, generator), x)


def naive_chunks(x: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Three 24-frame chunks side by side, no overlap."""
    return torch.cat([x0_estimate(x[a:a + 24], sigma) for a in range(0, x.shape[0], 24)])


def frame_jumps(video: torch.Tensor) -> torch.Tensor:
    return (video[1:] - video[:-1]).abs().mean(dim=(1, 2, 3))


def seam(video: torch.Tensor, jumps: slice = slice(None)) -> float:
    """The largest frame-to-frame change among `jumps` over the median change of the whole video."""
    changes = frame_jumps(video)
    return (changes[jumps].max() / changes.median()).item()
