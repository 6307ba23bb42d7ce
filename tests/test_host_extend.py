"""StreamingT2V Extend in the real ComfyUI: first chunk + extension to a video file, on tiny official-layout weights."""
import json
import os
import re

import pytest

from helpers.graphs import first_chunk_and_extend, video_frames, video_tags, with_extend_advanced
from helpers.host import HostExecutionError, HostValidationError

pytestmark = pytest.mark.host


def run_extend(host, **kwargs):
    outputs = host.run(first_chunk_and_extend(**kwargs))
    (preview,) = [outputs["21"]]
    return outputs, preview


def newest(host, prefix: str, suffix: str) -> str:
    folder = host.folder_paths.get_output_directory()
    names = [f for f in os.listdir(folder) if f.startswith(prefix) and f.endswith(suffix)]
    return os.path.join(folder, max(names, key=lambda f: os.path.getmtime(os.path.join(folder, f))))


def outputs_named(host, prefix: str) -> list[str]:
    folder = host.folder_paths.get_output_directory()
    return [f for f in os.listdir(folder) if f.startswith(prefix)] if os.path.isdir(folder) else []


def test_first_chunk_extended_to_48_frames(host):
    outputs, _ = run_extend(host, frames_to_add=32, prefix="stv_extend48")
    video = newest(host, "stv_extend48", ".mp4")
    assert ".partial" not in video
    assert video_frames(video) == (48, 64, 48)
    # the node plays its video as core Save Video does
    assert outputs["20"] == {"images": [{"filename": os.path.basename(video), "subfolder": "", "type": "output"}], "animated": [True]}
    manifest = json.load(open(newest(host, "stv_extend48", ".json")))
    assert manifest["status"] == "complete" and manifest["chunks"] == 4 and len(manifest["chunk_log"]) == 4
    assert manifest["vae_decode"] == "fp32"  # the default: the official precision for the frames the next chunk reads
    assert len({c["seed"] for c in manifest["chunk_log"]}) == 4


def test_a_remainder_is_generated_whole_and_trimmed_at_the_fps_asked(host):
    run_extend(host, frames_to_add=12, prefix="stv_extend_trim", fps=24.0)
    video = newest(host, "stv_extend_trim", ".mp4")
    assert video_frames(video)[0] == 28
    assert video_tags(video)[1] == 24.0 and json.load(open(video[:-len(".mp4")] + ".json"))["fps"] == 24.0


def test_another_core_sampler_and_scheduler_work(host):
    run_extend(host, frames_to_add=8, sampler="dpmpp_2m", scheduler="karras", prefix="stv_extend_dpm")
    assert video_frames(newest(host, "stv_extend_dpm", ".mp4"))[0] == 24


def test_png_sequence_is_lossless_and_complete_and_a_video_for_core_save_video(host):
    graph = first_chunk_and_extend(frames_to_add=8, video_format="png sequence (lossless)", prefix="stv_extend_png")
    graph["30"] = {"class_type": "SaveVideo", "inputs": {"video": ["20", 2], "filename_prefix": "stv_png_saved",
                                                         "format": "auto", "codec": "auto"}}
    outputs = host.run(graph)
    folder = host.folder_paths.get_output_directory()
    (sequence,) = [f for f in os.listdir(folder) if f.startswith("stv_extend_png") and os.path.isdir(os.path.join(folder, f))]
    assert not sequence.endswith(".partial") and len(os.listdir(os.path.join(folder, sequence))) == 24
    assert "images" not in outputs.get("20", {})  # a folder has no player
    (saved,) = outputs["30"]["images"]
    assert video_frames(os.path.join(folder, saved["filename"])) == (24, 64, 48)


def refused(host, node: str, pattern: str, **kwargs):
    with pytest.raises(HostValidationError) as failure:
        run_extend(host, **kwargs)
    details = " ".join(e["details"] for e in failure.value.node_errors[node]["errors"])
    assert re.search(pattern, details), details


def test_an_unparsable_schedule_names_the_entry_before_anything_runs(host):
    refused(host, "20", "prompt_schedule entry 2 .*'the cat runs'.* is not 'FRAME: prompt'",
            frames_to_add=8, prompt_schedule="0: a cat walks | the cat runs", prefix="stv_bad_schedule")
    assert not outputs_named(host, "stv_bad_schedule")


def test_zero_frames_to_add_is_refused(host):
    refused(host, "20", "frames_to_add is 0; add at least 1 frame", frames_to_add=0)


@pytest.mark.parametrize("change, message", [
    ({"start_frames": 5}, "start_frames has 5 frames; the CAM needs the last 8"),
    ({"width": 60}, "start_frames are 60x48; both sides must be multiples of 8"),
    ({"clip_vision": None}, "clip_vision is empty"),
])
def test_bad_starts_are_refused_without_a_file_claiming_completeness(host, change, message):
    import torch
    from helpers.fake_models import STREAMINGT2V_CKPT
    model, _, _, _, stv = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadStreamingT2V"].execute(
        ckpt_name=STREAMINGT2V_CKPT, weight_dtype="default").result
    node = host.nodes.NODE_CLASS_MAPPINGS["STV_Extend"]
    start = torch.rand(change.get("start_frames", 16), 48, change.get("width", 64), 3)
    kwargs = dict(model=model, streamingt2v=stv, positive=[], negative=[], clip_vision=change.get("clip_vision", object()),
                  vae=None, start_frames=start, frames_to_add=8, seed=0, steps=1, cfg=7.5, sampler_name="euler",
                  scheduler="normal", noise_mode="fresh per chunk (official)", filename_prefix="stv_bad_start",
                  video_format="mp4 (h264)", output_frames="all")
    with pytest.raises(ValueError, match=message):
        node.execute(**kwargs)
    assert not outputs_named(host, "stv_bad_start")


def test_prompt_travel_records_each_chunks_prompt(host):
    run_extend(host, frames_to_add=16, prompt_schedule="0: a cat walks | 24: the cat runs", prefix="stv_travel")
    log = json.load(open(newest(host, "stv_travel", ".json")))["chunk_log"]
    assert [c["prompt"] for c in log] == ["a cat walks", "the cat runs"]


def png_frames(host, prefix: str):
    import numpy as np
    from PIL import Image
    folder = host.folder_paths.get_output_directory()
    (sequence,) = [f for f in os.listdir(folder) if f.startswith(prefix) and os.path.isdir(os.path.join(folder, f))]
    files = sorted(os.listdir(os.path.join(folder, sequence)))
    return np.stack([np.asarray(Image.open(os.path.join(folder, sequence, f))) for f in files])


def test_same_inputs_and_seed_give_bit_identical_frames(host):
    for prefix in ("stv_same_a", "stv_same_b"):
        run_extend(host, frames_to_add=16, video_format="png sequence (lossless)", prefix=prefix, seed=11)
    a, b = png_frames(host, "stv_same_a"), png_frames(host, "stv_same_b")
    assert a.shape == (32, 48, 64, 3) and (a == b).all()
    run_extend(host, frames_to_add=16, video_format="png sequence (lossless)", prefix="stv_same_c", seed=12)
    assert (png_frames(host, "stv_same_c")[16:] != a[16:]).any()  # the seed matters for the new frames


def manifest_of(host, prefix: str) -> tuple[str, dict]:
    path = newest(host, prefix, ".json")
    return os.path.basename(path), json.load(open(path))


def test_resume_continues_without_recomputing_and_redo_changes_only_later_chunks(host):
    png = "png sequence (lossless)"
    run_extend(host, frames_to_add=8, video_format=png, prefix="stv_res_a", seed=21)
    a_name, _ = manifest_of(host, "stv_res_a")
    run_extend(host, frames_to_add=16, video_format=png, prefix="stv_res_b", seed=21, resume_manifest=a_name)
    b_name, b = manifest_of(host, "stv_res_b")
    a_frames, b_frames = png_frames(host, "stv_res_a"), png_frames(host, "stv_res_b")
    assert b_frames.shape[0] == 40 and (b_frames[:24] == a_frames).all()
    assert b["chunk_offset"] == 1 and [c["chunk"] for c in b["chunk_log"]] == [1, 2] and b["resumed_from"] == a_name
    engine = host.pack_module("nodes.extend_engine")
    assert [c["seed"] for c in b["chunk_log"]] == [engine.chunk_seed(21, 1), engine.chunk_seed(21, 2)]

    run_extend(host, frames_to_add=8, video_format=png, prefix="stv_res_c", seed=99, resume_manifest=b_name, redo_from_chunk=1)
    c_frames = png_frames(host, "stv_res_c")
    assert c_frames.shape[0] == 32 and (c_frames[:24] == b_frames[:24]).all() and (c_frames[24:] != b_frames[24:32]).any()


def test_resume_from_a_chunk_the_run_never_made_is_refused(host):
    run_extend(host, frames_to_add=8, video_format="png sequence (lossless)", prefix="stv_res_bad", seed=3)
    name, _ = manifest_of(host, "stv_res_bad")
    with pytest.raises(HostExecutionError, match="redo_from_chunk is 5 but the earlier run finished 1 chunks"):
        run_extend(host, frames_to_add=8, prefix="stv_res_bad2", resume_manifest=name, redo_from_chunk=5)


def test_a_video_that_cannot_fit_on_disk_is_refused_with_figures(host, monkeypatch):
    import collections

    import torch
    from helpers.fake_models import STREAMINGT2V_CKPT
    engine = host.pack_module("nodes.extend_engine")
    model, _, _, _, stv = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadStreamingT2V"].execute(
        ckpt_name=STREAMINGT2V_CKPT, weight_dtype="default").result
    sampling = engine.Sampling(None, torch.linspace(10, 0, 51), None, None)
    request = engine.Request(model=model, streamingt2v=stv, conds={}, clip_vision=object(), vae=None,
                             start=torch.zeros(16, 256, 256, 3), frames_to_add=1184, sampling=sampling, filename_prefix="x")
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(host.pack_module("nodes.video_run").shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**6, 10**6))
    plan = engine.plan_chunks(16, 1184)
    with pytest.raises(ValueError, match=r"The video needs about 0.02 GB but .* has 0.00 GB free"):
        engine.preflight(request, plan, 256, 256, os.path.join(host.folder_paths.get_output_directory(), "x"))


def guider_node(class_type: str = "CFGGuider", **settings) -> dict:
    """A core guider on Load StreamingT2V's MODEL with the graph's prompts (nodes 4 and 5)."""
    conds = {"positive": ["4", 0], "negative": ["5", 0]}
    if class_type == "DualCFGGuider":
        conds = {"cond1": ["4", 0], "cond2": ["5", 0], "negative": ["5", 0]}
    return {"class_type": class_type, "inputs": {"model": ["s1", 0], **conds, **settings}}


def extend_advanced(host, guider: dict, prefix: str, seed: int = 31):
    graph = with_extend_advanced(first_chunk_and_extend(frames_to_add=16, sampler="euler_ancestral", scheduler="normal", seed=seed,
                                                        video_format="png sequence (lossless)", prefix=prefix), guider)
    host.run(graph)
    return png_frames(host, prefix), manifest_of(host, prefix)[1]


def test_a_core_guider_drives_every_chunk_of_extend_advanced(host):
    """CFGGuider at the simple node's cfg reproduces StreamingT2V Extend bit for bit; another cfg changes the new frames."""
    run_extend(host, frames_to_add=16, sampler="euler_ancestral", scheduler="normal", seed=31,
               video_format="png sequence (lossless)", prefix="stv_guided_simple")
    simple = png_frames(host, "stv_guided_simple")
    same, manifest = extend_advanced(host, guider_node(cfg=7.5), "stv_guided_cfg75")
    assert same.shape == (32, 48, 64, 3) and (same == simple).all()
    assert manifest["status"] == "complete" and manifest["sampling"]["guider"] == "CFGGuider" and manifest["sampling"]["cfg"] == 7.5
    other, manifest = extend_advanced(host, guider_node(cfg=2.0), "stv_guided_cfg2")
    assert manifest["sampling"]["cfg"] == 2.0
    assert (other[:16] == simple[:16]).all() and (other[16:] != simple[16:]).any()


def test_a_guider_with_three_conditionings_drives_extend_advanced(host):
    """DualCFGGuider's "middle" conditioning gets the anchor's image tokens and the CAM frames like the positive one."""
    frames, manifest = extend_advanced(host, guider_node("DualCFGGuider", cfg_conds=5.0, cfg_cond2_negative=2.0,
                                                         style="regular"), "stv_guided_dual")
    assert frames.shape == (32, 48, 64, 3) and manifest["status"] == "complete"
    assert manifest["sampling"]["guider"] == "Guider_DualCFG" and manifest["sampling"]["cfg1"] == 5.0
