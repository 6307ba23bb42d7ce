"""Randomized blending's chunk plan, and what it is for: no visible seam where chunks meet."""
import pytest
import torch

from st2v_modules.sampling.blending import BlendPlan, blend_chunks, draw_cuts, fitting_length, padded_length
from st2v_modules.sampling.enhancer_schedule import official_sigmas, sigma_to_t, vp_sigmas


@pytest.mark.parametrize("frames, trimmed", [(24, 24), (32, 24), (56, 56), (80, 72), (240, 232), (600, 600), (1200, 1192), (23, 0)])
def test_official_trimming(frames, trimmed):
    assert fitting_length(frames) == trimmed


@pytest.mark.parametrize("frames, padded", [(1, 24), (24, 24), (25, 40), (80, 88), (1200, 1208)])
def test_padding_keeps_every_frame(frames, padded):
    assert padded_length(frames) == padded
    BlendPlan(padded)  # tiles


def test_a_length_that_does_not_tile_names_both_fixes():
    with pytest.raises(ValueError, match="80 frames do not tile.*use 72 \\(trimmed\\) or 88 \\(padded\\)"):
        BlendPlan(80)


def test_cuts_fall_inside_the_overlap_and_change_with_the_generator():
    plan = BlendPlan(1192)
    cuts = [draw_cuts(plan, torch.Generator().manual_seed(s)) for s in range(3)]
    assert all(len(c) == len(plan.starts) - 1 == 73 for c in cuts)
    assert all(0 <= x < plan.overlap for c in cuts for x in c)
    assert cuts[0] != cuts[1] and set(cuts[0]) == set(range(8))


def test_each_chunk_wins_from_its_cut_on():
    plan = BlendPlan(40)  # chunks [0, 24) and [16, 40)
    out = blend_chunks(lambda start, end: torch.full((end - start,), float(start)), plan, [5], torch.empty(40))
    assert out.tolist() == [0.0] * 21 + [16.0] * 19


def frame_jumps(video: torch.Tensor) -> torch.Tensor:
    return (video[1:] - video[:-1]).abs().mean(dim=(1, 2, 3))


def test_randomized_blending_removes_the_seam_that_naive_chunking_leaves():
    """72 frames of a smooth latent video re-noised to the official level 600 and sampled with the official
    30-step grid, by a tiny denoiser whose estimate depends on the chunk it sees (the blending fixture's toy
    model: v = tanh(x/2 + mean over the chunk's frames of x/2)). Naive chunking (three 24-frame chunks side
    by side) leaves a jump at each border; randomized blending (24/8, cuts redrawn every step) does not.
    The figure: the largest frame-to-frame change over the median one."""
    frames, vp = 72, vp_sigmas()
    alphas, sigmas = (1 - vp**2).sqrt(), official_sigmas(vp)
    ramp = torch.linspace(0, 0.5, frames)[:, None, None, None]
    pattern = torch.sin(torch.linspace(0, 6, 16))[None, :] + torch.cos(torch.linspace(0, 4, 10))[:, None]
    clean = (ramp + 0.5 * pattern).expand(frames, 4, 10, 16)
    noise = torch.randn((1, 4, 10, 16), generator=torch.Generator().manual_seed(0)).expand_as(clean)

    def x0_estimate(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        t = sigma_to_t(sigma, vp).round().long()
        xt = x / (sigma**2 + 1).sqrt()
        return alphas[t] * xt - vp[t] * torch.tanh(0.5 * xt + 0.5 * xt.mean(dim=0, keepdim=True))

    def sample(denoise) -> torch.Tensor:
        x, generator = clean + sigmas[0] * noise, torch.Generator().manual_seed(1)
        for sigma, next_sigma in zip(sigmas[:-1], sigmas[1:]):
            x0 = denoise(x, sigma, generator)
            x = x0 if next_sigma == 0 else x + (x - x0) / sigma * (next_sigma - sigma)
        return x

    plan = BlendPlan(frames)
    naive = sample(lambda x, s, g: torch.cat([x0_estimate(x[a:a + 24], s) for a in range(0, frames, 24)]))
    blended = sample(lambda x, s, g: blend_chunks(lambda a, b: x0_estimate(x[a:b], s), plan, draw_cuts(plan, g), x))
    naive_jumps, blended_jumps = frame_jumps(naive), frame_jumps(blended)
    naive_seam = (naive_jumps.max() / naive_jumps.median()).item()
    blended_seam = (blended_jumps.max() / blended_jumps.median()).item()
    assert naive_jumps.argmax().item() in (23, 47), "naive chunking's largest jump sits on a chunk border"
    assert naive_seam > 5 and blended_seam < 2.5 and blended_seam < naive_seam / 3, (naive_seam, blended_seam)
