"""Resume in the real ComfyUI: bit-identical mp4 resume, a full disk mid-run (a real tmpfs) then resumed, and
resume_manifest names and hand-edited manifests that are refused naming the input and the field."""
import json
import os
import shutil

import pytest
import torch

from helpers.faults import grow_tmpfs, tmpfs
from helpers.graphs import first_chunk_and_extend, video_frames
from helpers.host import HostExecutionError

pytestmark = pytest.mark.host


def output_dir(host) -> str:
    return host.folder_paths.get_output_directory()


def files_named(host, prefix: str, folder: str = "") -> list[str]:
    where = os.path.join(output_dir(host), folder)
    return sorted(f for f in os.listdir(where) if f.startswith(prefix)) if os.path.isdir(where) else []


def extend(host, prefix: str, **kwargs) -> torch.Tensor:
    """Runs first chunk + Extend; returns Extend's frames (the executor's own output, not a re-read file)."""
    host.run(first_chunk_and_extend(prefix=prefix, steps=1, **kwargs))
    return host.node_output("20")


def manifest(host, name: str) -> dict:
    with open(os.path.join(output_dir(host), name)) as f:
        return json.load(f)


def test_mp4_resume_makes_exactly_the_frames_of_the_uninterrupted_run(host):
    whole = extend(host, "stv_exact_whole", frames_to_add=24, seed=41)
    extend(host, "stv_exact_first", frames_to_add=8, seed=41)
    resumed = extend(host, "stv_exact_resumed", frames_to_add=16, seed=41, resume_manifest="stv_exact_first_00001_.json")
    assert resumed.shape == whole.shape == (40, 48, 64, 3)
    assert torch.equal(resumed[24:], whole[24:])  # the resumed chunks, bit for bit
    assert torch.equal(resumed[16:24], whole[16:24]) and torch.equal(resumed[:1], whole[:1])  # the lossless frames
    assert video_frames(os.path.join(output_dir(host), "stv_exact_resumed_00001_.mp4"))[0] == 40
    record = manifest(host, "stv_exact_resumed_00001_.json")
    assert record["status"] == "complete" and [c["chunk"] for c in record["chunk_log"]] == [1, 2]
    assert record["resume_frames"] == "stv_exact_resumed_00001_.resume.safetensors"

    # the control: without the lossless frames the resume conditions on decoded h264 and drifts
    os.remove(os.path.join(output_dir(host), "stv_exact_first_00001_.resume.safetensors"))
    lossy = extend(host, "stv_exact_lossy", frames_to_add=16, seed=41,
                   resume_manifest=os.path.join(output_dir(host), "stv_exact_first_00001_.json"))  # an absolute name inside
    assert (lossy[24:] - whole[24:]).abs().max() > 1e-5  # far beyond rounding (the tiny random UNet damps it: 8e-4)


def test_a_full_disk_mid_run_fails_truthfully_and_resumes_once_there_is_space(host):
    folder = os.path.join(output_dir(host), "full_disk")
    with tmpfs(folder, "700k"):
        with pytest.raises(HostExecutionError) as failure:
            extend(host, "full_disk/stv_full", frames_to_add=80, seed=5)
        message = failure.value.exception_message.strip()
        (name,) = [f for f in files_named(host, "stv_full", "full_disk") if f.endswith(".json")]
        record = manifest(host, f"full_disk/{name}")
        done = len(record["chunk_log"])
        video = os.path.join(folder, record["video"])
        assert message.startswith(f"StreamingT2V Extend could not write its files: No space left on device in {folder} (")
        assert (f"{16 + 8 * done} frames ({done} of 10 chunks) are in {record['video']} and {name} records them; free some "
                f"space, then set resume_manifest to 'full_disk/{name}' to continue from there.") in message
        assert record["status"] == "failed" and record["video"].endswith(".partial.mp4") and "No space left" in record["error"]
        assert video_frames(video)[0] == 16 + 8 * done  # exactly the chunks the manifest records
        assert not [f for f in os.listdir(folder) if f.endswith(".tmp") or (f.endswith(".mp4") and ".partial" not in f)]

        grow_tmpfs(folder, "8m")
        extend(host, "full_disk/stv_full_resumed", frames_to_add=80 - 8 * done, seed=5, resume_manifest=f"full_disk/{name}")
        (resumed,) = [f for f in files_named(host, "stv_full_resumed", "full_disk") if f.endswith(".json")]
        record = manifest(host, f"full_disk/{resumed}")
        assert record["status"] == "complete" and record["chunk_offset"] == done and len(record["chunk_log"]) == 10 - done
        assert video_frames(os.path.join(folder, record["video"]))[0] == 96


@pytest.fixture(scope="module")
def finished_run(host) -> str:
    """A small finished mp4 run whose manifest the next tests copy and edit by hand."""
    extend(host, "stv_valid", frames_to_add=8, seed=3)
    return "stv_valid_00001_.json"


def refused(host, resume_manifest: str, prefix: str) -> str:
    with pytest.raises(HostExecutionError) as failure:
        extend(host, prefix, frames_to_add=8, resume_manifest=resume_manifest)
    assert files_named(host, prefix) == []  # refused before anything was written or copied
    return failure.value.exception_message.strip()


NOT_IN_OUTPUT = ("is not a file in the output folder: give the .json written next to the video, as its name under the "
                 "output folder (e.g. 'StreamingT2V/video_00001_.json').")


def test_names_outside_the_output_folder_and_missing_names_get_one_message(host, finished_run, tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text(open(os.path.join(output_dir(host), finished_run)).read())  # a valid manifest, outside
    link = os.path.join(output_dir(host), "stv_link_out.json")
    os.symlink(outside, link)
    names = [str(outside), "../" * 8 + str(outside).lstrip("/"), "stv_link_out.json", "nothing/missing.json", "/etc/hostname"]
    for number, name in enumerate(names):
        assert refused(host, name, f"stv_escape_{number}") == f"resume_manifest {name!r} {NOT_IN_OUTPUT}"
    os.remove(link)


def edited(host, finished_run: str, name: str, change) -> str:
    """A copy of the finished run's manifest, beside it, changed by `change(data)` (or replaced by a string)."""
    data = manifest(host, finished_run)
    text = change if isinstance(change, str) else None
    if text is None:
        change(data)
        text = json.dumps(data)
    with open(os.path.join(output_dir(host), name), "w") as f:
        f.write(text)
    return name


def test_a_video_field_outside_the_output_folder_is_refused_like_a_missing_one(host, finished_run, tmp_path):
    secret = tmp_path / "secret.mp4"
    shutil.copy(os.path.join(output_dir(host), "stv_valid_00001_.mp4"), secret)  # readable, and outside
    os.symlink(secret, os.path.join(output_dir(host), "stv_link_video.mp4"))
    for number, video in enumerate(["../" * 8 + str(secret).lstrip("/"), str(secret), "stv_link_video.mp4", "gone.mp4"]):
        name = edited(host, finished_run, f"stv_video_{number}.json", lambda d: d.update(video=video))
        assert refused(host, name, f"stv_video_run_{number}") == (
            f"resume_manifest {name!r}: field 'video' names {video!r}, which is not in the output folder next to the "
            "manifest; the manifest must lie beside the files its run wrote.")
    name = edited(host, finished_run, "stv_resume_frames_out.json", lambda d: d.update(resume_frames="../" * 8 + "etc/hostname"))
    assert "field 'resume_frames' names" in refused(host, name, "stv_resume_frames_run")


def pop(field):
    return lambda d: d.pop(field)


def put(field, value):
    return lambda d: d.update({field: value})


def put_chunk(index, entry):
    return lambda d: d["chunk_log"].__setitem__(index, entry)


EDITS = [
    ("not_json", '{"status": "running", "video": ', r"is not valid JSON \(Expecting value: line 1 column 32"),
    ("a_list", "[1, 2, 3]", "holds a JSON list; a manifest is a JSON object"),
    ("no_chunk_log", pop("chunk_log"), "has no field 'chunk_log' \\(a list of"),
    ("no_video", pop("video"), "has no field 'video'"),
    ("chunk_log_dict", put("chunk_log", {"0": 1}), "field 'chunk_log' is \\{'0': 1\\}; expected a list"),
    ("chunk_as_text", put_chunk(0, {"chunk": "0", "seed": 1, "prompt": None}), "field 'chunk_log\\[0\\]' is .*'chunk': '0'.*expected \\{'chunk': 0,"),
    ("chunk_gap", put_chunk(0, {"chunk": 3, "seed": 1, "prompt": None}), "field 'chunk_log\\[0\\]' is .*expected \\{'chunk': 0,"),
    ("seed_negative", put_chunk(0, {"chunk": 0, "seed": -4, "prompt": None}), "field 'chunk_log\\[0\\]'"),
    ("offset_negative", put("chunk_offset", -1), "field 'chunk_offset' is -1; expected a whole number of at least 0"),
    ("offset_too_big", put("chunk_offset", 5), "field 'chunk_offset' is 5; expected at most 1 \\(each earlier chunk is 8"),
    ("offset_float", put("chunk_offset", 0.5), "field 'chunk_offset' is 0.5; expected a whole number"),
    ("start_text", put("start_frames", "16"), "field 'start_frames' is '16'; expected a whole number of at least 8"),
    ("start_few", put("start_frames", 4), "field 'start_frames' is 4; expected a whole number of at least 8"),
    ("video_null", put("video", None), "field 'video' is None; expected the name of the video"),
    ("video_number", put("video", 7), "field 'video' is 7; expected the name of the video"),
    ("status_unknown", put("status", "done"), "field 'status' is 'done'; expected one of running, complete, cancelled, failed"),
    ("format_unknown", put("format", "gif"), "field 'format' is 'gif'; expected one of 'mp4 \\(h264\\)'"),
    ("chunks_zero", put("chunks", 0), "field 'chunks' is 0; expected a whole number of at least 1"),
    ("frames_bool", put("frames_to_add", True), "field 'frames_to_add' is True; expected a whole number"),
    ("fps_negative", put("fps", -8), "field 'fps' is -8; expected a number above 0"),
    ("seed_text", put("seed", "33"), "field 'seed' is '33'; expected a whole number of at least 0"),
    ("log_too_long", lambda d: d.update(chunks=1, chunk_log=d["chunk_log"] * 1 + [{"chunk": 1, "seed": 2, "prompt": None}]),
     "field 'chunk_log' is '2 entries'; expected at most 'chunks' = 1 entries"),
]


@pytest.mark.parametrize("case, change, message", EDITS, ids=[e[0] for e in EDITS])
def test_a_hand_edited_manifest_is_refused_naming_resume_manifest_and_the_field(host, finished_run, case, change, message):
    import re
    name = edited(host, finished_run, f"stv_edit_{case}.json", change)
    text = refused(host, name, f"stv_edit_run_{case}")
    assert text.startswith(f"resume_manifest {name!r}") and re.search(message, text), text


def test_continuing_after_a_trimmed_last_chunk_says_which_chunk_to_redo(host):
    extend(host, "stv_trimmed", frames_to_add=12, seed=8)
    with pytest.raises(HostExecutionError, match=r"redo_from_chunk: the earlier run's last chunk \(1\) was trimmed to 4 "
                                                 r"frames, .*set redo_from_chunk to 1 to make that chunk whole"):
        extend(host, "stv_trimmed_more", frames_to_add=8, resume_manifest="stv_trimmed_00001_.json")
