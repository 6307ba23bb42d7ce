"""The metrics package on its own: MAWE on videos with known answers, the official formula, drift curves, CLIP scores,
the plot, the command line. Optical flow comes from exact flow functions here (RAFT with real weights is the user's
download); RAFT itself is only loaded, with random weights, to prove the loading path."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from st2v_modules.sampling.chunks import EXTEND_CHUNK_FRAMES, NEW_FRAMES_PER_CHUNK
from st2v_modules.checkpoints.errors import CheckpointError
from st2v_modules.metrics import (OFFICIAL_COEFF, RaftFlow, check_flow_size, drift_plot, load_raft, mawe, measure_video,
                                  to_json)
from st2v_modules.metrics.__main__ import main as metrics_command
from st2v_modules.metrics.clip_similarity import anchor_similarity, text_alignment
from st2v_modules.metrics.drift import chunk_spans
from st2v_modules.metrics.plot import COLOURS
from st2v_modules.metrics.warp import forward_warp
from st2v_modules.video_files.writer import MP4, VideoWriter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIDE = 128  # the smallest size RAFT accepts; MAWE's official working size is 720


def texture(side: int = SIDE, seed: int = 0) -> torch.Tensor:
    """A random texture `[side, side, 3]` in 0..1: every shift of it is unambiguous."""
    return torch.rand(side, side, 3, generator=torch.Generator().manual_seed(seed))


def translating(image: torch.Tensor, frames: int, dx: int, dy: int) -> torch.Tensor:
    """`[frames, H, W, 3]`: the image moving (dx, dy) pixels per frame, wrapping around."""
    return torch.stack([torch.roll(image, shifts=(t * dy, t * dx), dims=(0, 1)) for t in range(frames)])


def phase_correlation_flow(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """An exact flow function for videos that translate as a whole: the shift found by phase correlation, everywhere."""
    a, b = left[0].float().mean(0), right[0].float().mean(0)
    cross = torch.fft.fft2(b) * torch.fft.fft2(a).conj()
    peak = torch.fft.ifft2(cross / cross.abs().clamp_min(1e-9)).real
    height, width = peak.shape
    dy, dx = divmod(int(peak.argmax()), width)
    dy, dx = dy - height if dy > height // 2 else dy, dx - width if dx > width // 2 else dx
    return torch.tensor([float(dx), float(dy)]).view(1, 2, 1, 1).expand(1, 2, height, width)


def constant_flow(dx: float, dy: float):
    """A flow function that knows the true motion of the video: (dx, dy) for every pixel of every pair."""
    def flow(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return torch.tensor([dx, dy]).view(1, 2, 1, 1).expand(1, 2, *left.shape[2:]).clone()
    return flow


# --- MAWE: videos with known answers ---------------------------------------------------------------------------

def test_a_static_video_has_no_warp_error_and_no_motion_so_mawe_is_undefined():
    still = texture().expand(5, -1, -1, -1)
    result = mawe(still, phase_correlation_flow, size=SIDE)
    assert result.warp_errors == [0.0] * 4 and result.motions == [0.0] * 4
    assert math.isnan(result.mawe)  # 0 / 0: the paper's formula divides by the motion
    report = measure_video(still, phase_correlation_flow, size=SIDE)
    assert json.loads(to_json(report))["mawe"] is None
    assert any("no motion" in note for note in report["notes"])


def test_flow_recovers_a_translation_and_the_forward_warp_predicts_the_next_frame_exactly():
    video = translating(texture(), frames=4, dx=3, dy=-2)
    recovered = phase_correlation_flow(*(frame.permute(2, 0, 1).unsqueeze(0) for frame in video[:2]))
    assert recovered[0, :, 0, 0].tolist() == pytest.approx([3, -2], abs=0.5)
    result = mawe(video, phase_correlation_flow, size=SIDE)
    assert result.motions == pytest.approx([math.hypot(3, 2)] * 3, rel=1e-6)
    assert result.warp_errors == [0.0] * 3  # every pixel the warp reaches is the next frame's pixel
    assert result.mawe == 0.0


def test_flow_is_measured_in_pixels_of_the_working_size():
    video = translating(texture(side=64), frames=3, dx=2, dy=0)
    result = mawe(video, phase_correlation_flow, size=SIDE)  # 64 -> 128: the 2 px shift is 4 px there
    assert result.motions == pytest.approx([4.0, 4.0], abs=0.5)


def test_a_cut_scores_far_higher_than_smooth_motion():
    smooth = translating(texture(seed=1), frames=6, dx=3, dy=1)
    cut = torch.cat([smooth[:3], translating(texture(seed=2), frames=3, dx=3, dy=1)])
    flow = constant_flow(3.0, 1.0)
    smooth_result, cut_result = mawe(smooth, flow, size=SIDE), mawe(cut, flow, size=SIDE)
    assert smooth_result.mawe == 0.0
    assert cut_result.warp_errors[2] > 5000 and cut_result.warp_errors[:2] + cut_result.warp_errors[3:] == [0.0] * 4
    assert cut_result.mawe > 50  # two unrelated random textures: about 2 x 5400 / (9.5 x 3.16) / 5 pairs


# --- MAWE: the official formula -----------------------------------------------------------------------------------
# Expected numbers produced once by running the official StreamingModelscope:mawe.py (its get_mawe and warp_with_flow,
# imported from a `git show` dump outside this project, RAFT replaced by the fixed flows below, torchvision 0.29.1,
# CPU) on exactly these inputs. The flows push pixels out of the picture and onto each other (collisions).
OFFICIAL_MAWE = 79.31405639648438
OFFICIAL_PAIR_RATIOS = [155.63328552246094, 2.9948251247406006]
OFFICIAL_WARP_ERRORS = [3950.982177734375, 8539.466796875]
OFFICIAL_MOTIONS = [2.6722617149353027, 300.1481628417969]
OFFICIAL_VALID_PIXELS = [190657, 112304]
OFFICIAL_WARPED_SUMS = [73213552.0, 43345904.0]


def fixed_video() -> torch.Tensor:
    """uint8 `[3 frames, 3, 24, 32]` from a closed formula."""
    t, c, y, x = torch.meshgrid(torch.arange(3), torch.arange(3), torch.arange(24), torch.arange(32), indexing="ij")
    return ((x * 7 + y * 13 + c * 50 + t * 31 + x * y) % 256).to(torch.uint8)


def fixed_flow(pair: int, size: int = 720) -> torch.Tensor:
    """`[2, size, size]` from a closed formula; pair 1 moves 300 px right, so most of it leaves the picture."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    fx = ((x * 3 + y * 7 + pair * 5) % 23).float() * 0.25 - 2.6 + (x - 360).float() * 0.01 + pair * 300
    fy = ((x * 5 + y * 2 + pair * 3) % 19).float() * 0.25 - 2.2
    return torch.stack([fx, fy])


def test_mawe_matches_the_official_code_on_fixed_flows():
    frames = fixed_video().permute(0, 2, 3, 1).float() / 255
    pairs = iter(range(2))
    result = mawe(frames, lambda left, right: fixed_flow(next(pairs))[None])  # official size 720, c 9.5
    assert result.mawe == pytest.approx(OFFICIAL_MAWE, rel=1e-6)
    assert result.warp_errors == pytest.approx(OFFICIAL_WARP_ERRORS, rel=1e-6)
    assert result.motions == pytest.approx(OFFICIAL_MOTIONS, rel=1e-6)
    ratios = [e / (OFFICIAL_COEFF * m) for e, m in zip(result.warp_errors, result.motions)]
    assert ratios == pytest.approx(OFFICIAL_PAIR_RATIOS, rel=1e-6)


def test_forward_warp_matches_the_official_warp_on_fixed_flows():
    import torchvision.transforms.functional as tvf
    video = tvf.resize(fixed_video(), [720, 720], antialias=False)
    for pair in range(2):
        warped, valid = forward_warp(video[pair].float(), fixed_flow(pair))
        assert int(valid.sum()) == OFFICIAL_VALID_PIXELS[pair]
        # the official figure is a float32 sum of 1.5M pixel values, exact only to its rounding (8 at 7e7); ours in
        # float64 is exact, whatever the summation order (1 or 2 threads gave sums 8 apart in float32)
        assert warped.double().sum().item() == pytest.approx(OFFICIAL_WARPED_SUMS[pair], rel=1e-6)
        assert (warped[:, ~valid] == 0).all()


def test_forward_warp_rounds_to_the_nearest_pixel_and_the_later_pixel_wins_a_collision():
    image = torch.tensor([[[10.0, 20.0, 30.0]]])  # one row: pixels 0, 1, 2
    flow = torch.tensor([[[1.6, 0.7, 5.0]], [[0.0, 0.0, 0.0]]])  # 0 -> 2, 1 -> 2 (later wins), 2 leaves
    warped, valid = forward_warp(image, flow)
    assert warped.tolist() == [[[0.0, 0.0, 20.0]]]
    assert valid.tolist() == [[False, False, True]]


# --- RAFT: the user's weights file --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def raft_weights(tmp_path_factory) -> str:
    """A RAFT-large state dict with random weights, as torchvision saves raft_large_C_T_SKHT_V2-ff5fadd5.pth."""
    from torchvision.models.optical_flow import raft_large
    path = str(tmp_path_factory.mktemp("optical_flow") / "raft_large_random.pth")
    torch.save(raft_large(weights=None).state_dict(), path)
    return path


def test_raft_loads_from_the_users_file_and_gives_one_flow_per_pixel(raft_weights):
    flow = RaftFlow(load_raft(raft_weights))
    frames = (translating(texture(), 2, 3, 0) * 255).round().to(torch.uint8).permute(0, 3, 1, 2)
    out = flow(frames[:1], frames[1:])
    assert out.shape == (1, 2, SIDE, SIDE) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_raft_gets_the_official_input_transform():
    seen = []

    class Recorder(torch.nn.Module):
        def forward(self, left, right):
            seen.extend([left, right])
            return [torch.zeros(1, 2, *left.shape[2:])]

    pixels = torch.arange(256, dtype=torch.uint8).repeat(3, 256, 1)[None, :, :SIDE, :SIDE]
    RaftFlow(Recorder())(pixels, pixels)
    assert torch.allclose(seen[0], pixels.float() / 255 * 2 - 1, atol=1e-6)  # 0..255 -> -1..1, as the weights expect


def test_a_file_that_is_not_raft_large_is_refused_with_the_file_to_use(tmp_path):
    garbage, other = tmp_path / "flow.pth", tmp_path / "raft_small.pth"
    garbage.write_bytes(b"not a checkpoint")
    from torchvision.models.optical_flow import raft_small
    torch.save(raft_small(weights=None).state_dict(), other)
    for path in (garbage, other):
        with pytest.raises(CheckpointError, match="raft_large_C_T_SKHT_V2-ff5fadd5.pth"):
            load_raft(str(path))


def test_flow_sizes_raft_cannot_take_are_refused_with_a_size_that_works():
    check_flow_size(720)
    with pytest.raises(ValueError, match="mawe_size is 100; .* use 128"):
        check_flow_size(100, "mawe_size")
    with pytest.raises(ValueError, match="use 720"):
        check_flow_size(722)


# --- Bad input ----------------------------------------------------------------------------------------------------

def test_fewer_than_two_frames_are_refused_naming_the_input():
    with pytest.raises(ValueError, match="images has 1 frame; .* at least 2 frames"):
        measure_video(texture()[None])
    with pytest.raises(ValueError, match="images has 1 frame"):
        mawe(texture()[None], phase_correlation_flow, size=SIDE)


def test_frames_of_different_sizes_are_refused_naming_the_frame():
    with pytest.raises(ValueError, match="frame 1 is 64x32 but frame 0 is 64x64; .* resize them"):
        measure_video([texture(64), texture(64)[:32]])


# --- Drift, CLIP, the report and its plot ----------------------------------------------------------------------------

def test_chunks_follow_the_extend_loop_16_then_8_new_frames_each():
    spans = chunk_spans(600)
    assert spans[0] == range(0, EXTEND_CHUNK_FRAMES) and all(len(s) == NEW_FRAMES_PER_CHUNK for s in spans[1:])
    assert len(spans) == 1 + (600 - EXTEND_CHUNK_FRAMES) // NEW_FRAMES_PER_CHUNK
    assert chunk_spans(30) == [range(0, 16), range(16, 24), range(24, 30)]
    assert chunk_spans(5) == [range(0, 5)]


def test_a_video_that_brightens_chunk_by_chunk_shows_it_in_the_drift_curves():
    base = texture(64) * 0.5
    frames = torch.stack([base + 0.05 * (0 if t < 16 else 1 + (t - 16) // 8) for t in range(40)])
    report = measure_video(frames)
    brightness = report["chunks"]["brightness"]
    assert len(brightness) == 4 and all(b - a == pytest.approx(0.05, abs=1e-5) for a, b in zip(brightness, brightness[1:]))
    assert report["drift"]["brightness"] == pytest.approx(0.15, abs=1e-5)
    assert report["chunks"]["anchor_pixel_distance"] == pytest.approx([0.0, 0.05, 0.10, 0.15], abs=1e-5)
    assert report["chunks"]["first_frame"] == [0, 16, 24, 32] and report["chunks"]["frames"] == [16, 8, 8, 8]


def test_clip_text_score_is_100_times_the_cosine_and_the_anchor_similarity_starts_at_1():
    text = torch.tensor([[1.0, 0.0, 0.0]])
    images = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 2.0]])
    assert text_alignment(images, text).tolist() == pytest.approx([100.0, 60.0, 0.0])
    assert anchor_similarity(images).tolist() == pytest.approx([1.0, 0.6, 0.0])


def test_text_embeddings_from_another_model_or_without_projection_are_refused():
    images = torch.rand(3, 1024)
    with pytest.raises(ValueError, match="768-d but the image embeddings are 1024-d"):
        text_alignment(images, torch.rand(1, 768))
    with pytest.raises(ValueError, match="text projection"):
        text_alignment(images, torch.full((1, 1024), float("nan")))


def test_report_holds_every_metric_per_chunk_as_strict_json_and_plots_them():
    frames = translating(texture(), frames=26, dx=2, dy=1)
    embeds = torch.randn(26, 8, generator=torch.Generator().manual_seed(3))
    report = json.loads(to_json(measure_video(frames, constant_flow(2.0, 1.0), size=SIDE, image_embeds=embeds,
                                              text_embed=embeds[:1])))
    assert report["frames"] == 26 and report["mawe"] == 0.0 and report["motion"] == pytest.approx(math.hypot(2, 1), abs=1e-5)
    assert report["clip_text_score"] == pytest.approx(sum(report["per_frame"]["clip_text_score"]) / 26)
    for curve in ("brightness", "anchor_clip_similarity", "clip_text_score", "motion", "warp_error", "mawe"):
        assert len(report["chunks"][curve]) == 3, curve
        assert curve in report["drift"]
    assert report["chunks"]["anchor_clip_similarity"][0] < 1  # the first chunk averages frame 0 with 15 others
    assert len(report["per_pair"]["motion"]) == 25
    picture = drift_plot(report)
    assert picture.dtype.name == "uint8" and picture.shape[1] == 640 and picture.shape[0] > 9 * 90
    assert (picture < 250).mean() > 0.01 and picture.std() > 20  # text, frames and curves, not a blank canvas
    first_colour = (picture == torch.tensor(COLOURS[0]).numpy()).all(-1).sum()
    assert first_colour > 50  # the brightness curve is drawn


# --- The command line -------------------------------------------------------------------------------------------

def write_mp4(path: str, frames: torch.Tensor) -> str:
    writer = VideoWriter(path, MP4, fps=8)
    writer.write(frames)
    return writer.finish()


def test_command_scores_a_video_file_with_raft_and_clip(tmp_path, raft_weights):
    from helpers.tiny_clip import write_tiny_clip
    video = write_mp4(str(tmp_path / "moving"), translating(texture(), frames=3, dx=4, dy=0))
    write_tiny_clip(str(tmp_path / "clip"))
    plot = tmp_path / "curves.png"
    out = subprocess.run([sys.executable, "-m", "st2v_modules.metrics", video, "--raft-weights", raft_weights,
                          "--size", str(SIDE), "--prompt", "a moving texture", "--clip-model", str(tmp_path / "clip"),
                          "--plot", str(plot), "--device", "cpu"], cwd=REPO, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["frames"] == 3 and report["width"] == SIDE and report["mawe_size"] == SIDE
    assert len(report["per_pair"]["warp_error"]) == 2 and report["warp_error"] >= 0  # random RAFT: a number, not a meaning
    assert -100 <= report["clip_text_score"] <= 100 and report["chunks"]["anchor_clip_similarity"]
    from PIL import Image
    assert Image.open(plot).size[0] == 640


def test_command_without_flow_weights_skips_mawe_and_says_so(tmp_path, capsys):
    video = write_mp4(str(tmp_path / "still"), texture(64).expand(3, -1, -1, -1))
    assert metrics_command([video]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "mawe" not in report and report["notes"] == ["MAWE not measured: no optical flow weights given."]


def test_command_refuses_bad_input_with_the_fix(tmp_path, capsys):
    one_frame = write_mp4(str(tmp_path / "one"), texture(64)[None])
    assert metrics_command([one_frame]) == 2
    assert "one.mp4 has 1 frame; " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        metrics_command([one_frame, "--prompt", "a cat"])
    assert "--prompt needs --clip-model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        metrics_command([one_frame, "--raft-weights", str(tmp_path / "missing.pth")])
    assert "raft_large_C_T_SKHT_V2-ff5fadd5.pth" in capsys.readouterr().err
