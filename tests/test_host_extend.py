"""StreamingT2V Extend in the real ComfyUI: first chunk + extension to a video file, on tiny official-layout weights."""
import json
import os

import pytest

from graphs import first_chunk_and_extend, video_frames
from host import HostExecutionError

pytestmark = pytest.mark.host


def run_extend(host, **kwargs):
    outputs = host.run(first_chunk_and_extend(**kwargs))
    (preview,) = [outputs["21"]]
    return outputs, preview


def newest(host, prefix: str, suffix: str) -> str:
    folder = host.folder_paths.get_output_directory()
    names = [f for f in os.listdir(folder) if f.startswith(prefix) and f.endswith(suffix)]
    return os.path.join(folder, max(names, key=lambda f: os.path.getmtime(os.path.join(folder, f))))


def test_first_chunk_extended_to_48_frames(host):
    run_extend(host, frames_to_add=32, prefix="stv_extend48")
    video = newest(host, "stv_extend48", ".mp4")
    assert ".partial" not in video
    assert video_frames(video) == (48, 64, 48)
    manifest = json.load(open(newest(host, "stv_extend48", ".json")))
    assert manifest["status"] == "complete" and manifest["chunks"] == 4 and len(manifest["chunk_log"]) == 4
    assert len({c["seed"] for c in manifest["chunk_log"]}) == 4


def test_a_remainder_is_generated_whole_and_trimmed(host):
    run_extend(host, frames_to_add=12, prefix="stv_extend_trim")
    assert video_frames(newest(host, "stv_extend_trim", ".mp4"))[0] == 28


def test_another_core_sampler_and_scheduler_work(host):
    run_extend(host, frames_to_add=8, sampler="dpmpp_2m", scheduler="karras", prefix="stv_extend_dpm")
    assert video_frames(newest(host, "stv_extend_dpm", ".mp4"))[0] == 24


def test_png_sequence_is_lossless_and_complete(host):
    run_extend(host, frames_to_add=8, video_format="png sequence (lossless)", prefix="stv_extend_png")
    folder = host.folder_paths.get_output_directory()
    (sequence,) = [f for f in os.listdir(folder) if f.startswith("stv_extend_png") and os.path.isdir(os.path.join(folder, f))]
    assert not sequence.endswith(".partial") and len(os.listdir(os.path.join(folder, sequence))) == 24


def test_an_unparsable_schedule_names_the_entry(host):
    with pytest.raises(HostExecutionError, match="prompt_schedule entry 2 .*'the cat runs'.* is not 'FRAME: prompt'"):
        run_extend(host, frames_to_add=8, prompt_schedule="0: a cat walks | the cat runs")


def test_prompt_travel_records_each_chunks_prompt(host):
    run_extend(host, frames_to_add=16, prompt_schedule="0: a cat walks | 24: the cat runs", prefix="stv_travel")
    log = json.load(open(newest(host, "stv_travel", ".json")))["chunk_log"]
    assert [c["prompt"] for c in log] == ["a cat walks", "the cat runs"]
