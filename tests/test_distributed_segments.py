"""One video's enhancement over several workers: the segment plan, the stitching, and the seams it leaves, measured on
the blending fixture's toy enhancer (helpers/toy_enhancer.py) as the workers would run it, one segment each."""
import pytest
import torch

from helpers import toy_enhancer as toy
from st2v_modules.distributed.segments import Segment, split, stitched
from st2v_modules.sampling.blending import BlendPlan

SEAM_BAR = 1.5  # largest frame-to-frame change over the median one, at every segment border


def test_segments_are_whole_chunks_sharing_one_overlap_with_a_chunk_of_context():
    assert split(BlendPlan(72), 2) == [Segment((0, 40), (0, 56)), Segment((32, 72), (16, 72))]
    segments = split(BlendPlan(1192), 8)  # the official 1200-frame run, trimmed: 74 chunks
    assert segments[0].kept[0] == 0 and segments[-1].kept[1] == 1192
    assert all(a.kept[1] - b.kept[0] == 8 for a, b in zip(segments, segments[1:]))
    assert all((s.context[1] - s.context[0] - 8) % 16 == 0 and s.context[0] % 16 == 0 for s in segments)  # the video's chunks
    assert {(s.kept[1] - s.kept[0] - 8) // 16 for s in segments} == {9, 10}  # 74 chunks as even as whole chunks go


def test_more_segments_than_chunks_is_refused_with_the_range():
    with pytest.raises(ValueError, match="72 frames are 4 blending chunks of 24; split them into 1 to 4 segments, not 5"):
        split(BlendPlan(72), 5)


def test_stitching_fades_the_later_segment_in_over_the_shared_frames():
    segments = split(BlendPlan(72), 2)
    frames = list(stitched(segments, lambda k, f: torch.full((1,), float(k)), 72))
    assert [f.item() for f in frames[:32]] == [0.0] * 32 and [f.item() for f in frames[40:]] == [1.0] * 32
    assert [round(f.item() * 9) for f in frames[32:40]] == list(range(1, 9))


def enhanced_in_segments(frames: int, count: int, context: bool = True) -> tuple[torch.Tensor, list[Segment], float]:
    """Each segment sampled alone with randomized blending, as a worker's StreamingT2V Enhance does, then stitched.
    Also returns how far neighbours disagree on the frames they share (mean change over the median frame-to-frame
    change, the largest over the borders)."""
    video, segments = toy.noisy_video(frames), split(BlendPlan(frames), count)
    if not context:  # the kept frames alone, for comparison
        segments = [Segment(s.kept, s.kept) for s in segments]
    parts = [toy.sample(toy.randomized_blending, video[a:b]) for a, b in (s.context for s in segments)]
    stitched_video = torch.stack(list(stitched(segments, lambda k, f: parts[k][f - segments[k].context[0]], frames)))
    median = toy.frame_jumps(stitched_video).median()
    disagreement = max(((parts[k][r.kept[0] - s.context[0]:s.kept[1] - s.context[0]] -
                         parts[k + 1][r.kept[0] - r.context[0]:s.kept[1] - r.context[0]]).abs().mean() / median).item()
                       for k, (s, r) in enumerate(zip(segments, segments[1:])))
    return stitched_video, segments, disagreement


@pytest.mark.parametrize("frames, count", [(72, 2), (136, 4)])
def test_segment_borders_are_no_worse_than_blending_in_one_worker(frames, count):
    video, segments, disagreement = enhanced_in_segments(frames, count)
    one_worker = toy.sample(toy.randomized_blending, toy.noisy_video(frames))
    borders = [slice(right.kept[0] - 1, left.kept[1]) for left, right in zip(segments, segments[1:])]  # the jumps into,
    seams = [toy.seam(video, border) for border in borders]                                          # within, out of the shared frames
    _, _, without_context = enhanced_in_segments(frames, count, context=False)
    print(f"{frames} frames, {count} segments: seams at the borders {[round(s, 3) for s in seams]} (one worker: "
          f"{toy.seam(one_worker):.3f} over the whole video); neighbours disagree by {disagreement:.2f} median changes "
          f"on their shared frames ({without_context:.2f} without the context chunks)")
    assert max(seams) <= SEAM_BAR and max(seams) <= toy.seam(one_worker) + 0.05, seams
    assert disagreement < 1 < 5 < without_context  # the context is what makes neighbours agree where they meet
