"""MS-Vid2Vid-XL's noise schedule and sampler grid (spec 3.1, 3.3), in the k-diffusion sigma convention.

The enhancer was trained on a shifted cosine log-SNR schedule rescaled to zero terminal SNR, with
v-prediction. "VP" sigmas are the noise fraction of x_t = alpha * x0 + sigma * noise; the sampler works
with "EDM" sigmas sigma / alpha (infinite at the last training step).
"""
from __future__ import annotations

import math

import torch

TRAIN_TIMESTEPS = 1000
LOGSNR_LIMIT = 15.0
SHIFT_SCALES = (2.0, 4.0)
OFFICIAL_STEPS = 30
OFFICIAL_NOISE_LEVEL = 600  # of 1000: the official run starts at t = 599


def vp_sigmas(n: int = TRAIN_TIMESTEPS) -> torch.Tensor:
    """Noise fraction per training step, computed in float32 the way the official schedule is."""
    u = torch.linspace(1, 0, n)
    a, b = math.atan(math.exp(LOGSNR_LIMIT / 2)), math.atan(math.exp(-LOGSNR_LIMIT / 2))
    logsnr = -2 * torch.log(torch.tan(a + u * (b - a)))
    near, far = (logsnr + 2 * math.log(1 / s) for s in SHIFT_SCALES)
    sigmas = torch.sqrt(torch.sigmoid(-(u * near + (1 - u) * far)))
    low, high = sigmas.min(), sigmas.max()
    return low + (1 - low) / (high - low) * (sigmas - low)  # zero terminal SNR: the last sigma is exactly 1


def log_edm_sigmas(vp: torch.Tensor) -> torch.Tensor:
    """log(sigma / alpha) per training step; +inf at a zero-SNR step."""
    return torch.sqrt(vp**2 / (1 - vp**2)).log()


def t_to_sigma(t: torch.Tensor, vp: torch.Tensor) -> torch.Tensor:
    """EDM sigma at fractional training steps, interpolated in log space."""
    t = t.float()
    low, high, w = t.floor().long(), t.ceil().long(), t.frac()
    log_sigmas = log_edm_sigmas(vp).to(t)
    log_sigma = (1 - w) * log_sigmas[low] + w * log_sigmas[high]
    log_sigma[torch.isnan(log_sigma) | torch.isinf(log_sigma)] = float("inf")
    return log_sigma.exp()


def sigma_to_t(sigma: torch.Tensor, vp: torch.Tensor) -> torch.Tensor:
    """The fractional training step of EDM sigmas (inverse of `t_to_sigma`); the model sees it rounded."""
    sigma = torch.as_tensor(sigma)
    log_sigmas = log_edm_sigmas(vp).to(sigma.device)
    flat = sigma.reshape(-1).float()
    log_sigma = flat.log()
    dists = log_sigma - log_sigmas[:, None]
    low = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=len(log_sigmas) - 2)
    lo, hi = log_sigmas[low], log_sigmas[low + 1]
    w = ((lo - log_sigma) / (lo - hi)).clamp(0, 1)
    t = (1 - w) * low + w * (low + 1)
    return torch.where(torch.isinf(flat), torch.full_like(t, len(vp) - 1), t).view(sigma.shape)


def official_sigmas(vp: torch.Tensor, steps: int = OFFICIAL_STEPS, noise_level: int = OFFICIAL_NOISE_LEVEL) -> torch.Tensor:
    """The official grid: "trailing" spacing over t in [0, noise_level - 1] with one extra step, then the
    penultimate sigma dropped, ending at 0 (steps + 1 values; DPM++ 2M SDE with 30 steps starts at 4.1648)."""
    t_max = noise_level - 1
    if not 1 <= t_max < len(vp) - 1:
        raise ValueError(f"noise level {noise_level} is outside 2..{len(vp) - 1}")
    ts = torch.arange(t_max, -1, -(t_max + 1) / (steps + 1)).clamp(0, t_max)
    sigmas = torch.cat([t_to_sigma(ts, vp), torch.zeros(1)])
    return torch.cat([sigmas[:-2], sigmas[-1:]])
