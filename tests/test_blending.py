"""Randomized blending's chunk plan, and what it is for: no visible seam where chunks meet."""
import pytest
import torch

from helpers import toy_enhancer as toy
from st2v_modules.sampling.blending import BlendPlan, blend_chunks, draw_cuts, fitting_length, padded_length


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


def test_randomized_blending_removes_the_seam_that_naive_chunking_leaves():
    """72 frames of the toy enhancer (helpers/toy_enhancer.py). Naive chunking (three 24-frame chunks side by side)
    leaves a jump at each border; randomized blending (24/8, cuts redrawn every step) does not. The figure: the
    largest frame-to-frame change over the median one."""
    naive, blended = (toy.sample(denoise, toy.noisy_video(72)) for denoise in (toy.naive_chunks, toy.randomized_blending))
    naive_seam, blended_seam = toy.seam(naive), toy.seam(blended)
    assert toy.frame_jumps(naive).argmax().item() in (23, 47), "naive chunking's largest jump sits on a chunk border"
    assert naive_seam > 5 and blended_seam < 2.5 and blended_seam < naive_seam / 3, (naive_seam, blended_seam)
