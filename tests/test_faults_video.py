"""The video writer under faults: every write readable at once (no close needed), a killed process, a full disk
(a real tmpfs), a folder that goes away, and the lossless resume frames beside the video."""
import os
import signal
import subprocess
import sys
import textwrap
from fractions import Fraction

import pytest
import torch

from helpers.faults import tmpfs
from helpers.graphs import video_frames
from st2v_modules.video_files.reader import read_video
from st2v_modules.video_files.resume_frames import ResumeFrames, load_resume_frames, save_resume_frames
from st2v_modules.video_files.writer import MP4, PNG, VideoWriteError, VideoWriter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def moving(frames: int, size: int = 64) -> torch.Tensor:
    """A smooth texture drifting 2 px per frame: what h264 keeps well, so decoded frames can be compared."""
    y, x = torch.meshgrid(torch.linspace(0, 6, size), torch.linspace(0, 6, size), indexing="ij")
    pattern = torch.stack([torch.sin(x + y), torch.cos(2 * x - y), torch.sin(3 * y)], dim=-1) * 0.2 + 0.4
    return torch.stack([torch.roll(pattern, 2 * t, dims=1) for t in range(frames)])


def noisy(frames: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Frames h264 cannot compress: a few kB each, so a small disk fills after a few chunks."""
    return torch.rand(frames, size, size, 3, generator=torch.Generator().manual_seed(seed))


def test_the_partial_mp4_is_readable_after_every_chunk_without_closing(tmp_path):
    frames = moving(40)
    writer = VideoWriter(str(tmp_path / "video"), MP4, fps=8)
    for end in (16, 24, 32, 40):
        writer.write(frames[end - (16 if end == 16 else 8):end])
        assert video_frames(writer.path)[0] == end  # another reader, while the writer still holds the file
    assert (read_video(writer.path) - frames).abs().mean() < 0.02
    path = writer.finish()
    assert path == str(tmp_path / "video.mp4") and not os.path.exists(writer.path + ".partial.mp4")
    assert video_frames(path) == (40, 64, 64)


def test_a_killed_writer_leaves_every_finished_chunk(tmp_path):
    """SIGKILL right after the third write: no close, no trailer, no index; the file decodes to 16 + 8 * 2 frames."""
    script = textwrap.dedent(f"""
        import os, signal, sys, torch
        sys.path.insert(0, {REPO!r})
        from st2v_modules.video_files.writer import MP4, VideoWriter
        frames = torch.rand(32, 48, 64, 3, generator=torch.Generator().manual_seed(1))
        writer = VideoWriter({str(tmp_path / "killed")!r}, MP4, fps=8)
        writer.write(frames[:16]); writer.write(frames[16:24]); writer.write(frames[24:])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert os.listdir(tmp_path) == ["killed.partial.mp4"]
    assert video_frames(str(tmp_path / "killed.partial.mp4")) == (32, 64, 48)


def test_a_file_cut_inside_its_last_fragment_reads_up_to_the_cut(tmp_path):
    writer = VideoWriter(str(tmp_path / "cut"), MP4, fps=8)
    writer.write(moving(16))
    writer.write(moving(8))
    whole = writer.close()
    data = open(whole, "rb").read()
    (tmp_path / "cut_short.mp4").write_bytes(data[:-300])  # a power cut in the middle of the second fragment
    assert 16 <= read_video(str(tmp_path / "cut_short.mp4")).shape[0] < 24


def test_a_full_disk_keeps_whole_chunks_and_says_where_how_much_and_what_to_do(tmp_path):
    with tmpfs(str(tmp_path / "small"), "64k") as folder:
        writer = VideoWriter(os.path.join(folder, "video"), MP4, fps=8)
        frames, written = noisy(200), 0
        with pytest.raises(VideoWriteError) as failure:
            for start in range(0, 200, 8):
                writer.write(frames[start:start + 8])
                written += 8
        message = str(failure.value)
        assert message.startswith(f"No space left on device in {folder} (") and " kB free) while writing frames" in message
        assert f"The {written} frames written before are kept in video.partial.mp4; free some space" in message
        assert written >= 8 and writer.frames == written
        assert video_frames(writer.path)[0] == written  # the failed fragment was cut off again
        with pytest.raises(VideoWriteError, match="misses frames .* keeps its .partial name"):
            writer.finish()
        assert os.listdir(folder) == ["video.partial.mp4"]


def test_a_full_disk_never_leaves_a_half_png(tmp_path):
    with tmpfs(str(tmp_path / "small"), "200k") as folder:
        writer = VideoWriter(os.path.join(folder, "frames"), PNG, fps=8)
        with pytest.raises(VideoWriteError, match="No space left on device"):
            for start in range(0, 400, 8):
                writer.write(noisy(8, seed=start))
        names = sorted(os.listdir(writer.path))
        assert names == [f"{i:06d}.png" for i in range(writer.frames)] and writer.frames % 8 == 0
        assert read_video(writer.path).shape[0] == writer.frames  # every one whole


def test_a_folder_that_went_away_keeps_no_complete_name(tmp_path):
    folder = tmp_path / "gone"
    folder.mkdir()
    writer = VideoWriter(str(folder / "video"), MP4, fps=8)
    writer.write(moving(16))
    os.remove(writer.path)
    folder.rmdir()
    with pytest.raises(VideoWriteError, match=r"No such file or directory in .*gone .* while closing the video\. The 16 "
                                              r"frames written before are kept in video.partial.mp4; check that folder"):
        writer.finish()
    assert not folder.exists()


def test_metadata_goes_into_the_container_and_the_first_png(tmp_path):
    import av
    from PIL import Image
    tags = {"prompt": '{"3": {"class_type": "KSampler"}}', "workflow": '{"nodes": []}'}
    writer = VideoWriter(str(tmp_path / "tagged"), MP4, fps=24000 / 1001, metadata=tags)
    writer.write(moving(24))
    with av.open(writer.finish()) as container:
        assert {k: container.metadata[k] for k in tags} == tags
        stream = container.streams.video[0]
        assert stream.average_rate == Fraction(24000, 1001) and abs(container.duration / 1e6 - 24 * 1001 / 24000) < 1e-3
    png = VideoWriter(str(tmp_path / "tagged_png"), PNG, fps=8, metadata=tags)
    png.write(moving(2))
    folder = png.finish()
    assert Image.open(os.path.join(folder, "000000.png")).text == tags
    assert Image.open(os.path.join(folder, "000001.png")).text == {}


def test_resume_frames_round_trip_exactly_and_a_damaged_file_is_ignored(tmp_path):
    frames = ResumeFrames(torch.rand(1, 16, 24, 3), torch.rand(8, 16, 24, 3), 40)
    path = str(tmp_path / "video.resume.safetensors")
    save_resume_frames(path, frames)
    back = load_resume_frames(path)
    assert torch.equal(back.anchor, frames.anchor) and torch.equal(back.tail, frames.tail) and back.video_frames == 40
    assert os.listdir(tmp_path) == ["video.resume.safetensors"]  # no temporary file left
    with open(path, "r+b") as f:
        f.truncate(100)
    assert load_resume_frames(path) is None and load_resume_frames(str(tmp_path / "missing.safetensors")) is None
