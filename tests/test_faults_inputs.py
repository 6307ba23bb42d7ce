"""Inputs that would run wrong are refused before any work, in the real ComfyUI: frames with NaN or Inf, a MODEL
without StreamingT2V's CAM, integer weights under the right keys, an empty checkpoint, frames beyond RAM, and a
truncated model file at its final name (the downloader and the Download Models node)."""
import math
import os

import pytest
import torch
from safetensors.torch import save_file

from helpers.fake_models import STREAMINGT2V_CKPT
from helpers.graphs import first_chunk_and_extend, with_extend_advanced
from helpers.host import HostExecutionError
from helpers.tiny_models import tiny_unet
from st2v_modules.model_files import downloader as dl
from st2v_modules.model_files.catalog import find
from test_download import BODY, SHA, fetch, server  # noqa: F401  (the local file server fixture and its file)

pytestmark = pytest.mark.host


def outputs_named(host, prefix: str) -> list[str]:
    folder = host.folder_paths.get_output_directory()
    return [f for f in os.listdir(folder) if f.startswith(prefix)] if os.path.isdir(folder) else []


def extend_node(host, start: torch.Tensor, prefix: str, **changes):
    """StreamingT2V Extend's execute on tensors, as the host calls it, with Load StreamingT2V's real MODEL."""
    model, _, _, _, stv = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadStreamingT2V"].execute(
        ckpt_name=STREAMINGT2V_CKPT, weight_dtype="default").result
    inputs = dict(model=model, streamingt2v=stv, positive=[], negative=[], clip_vision=object(), vae=None, start_frames=start,
                  frames_to_add=8, seed=0, steps=1, cfg=7.5, sampler_name="euler", scheduler="normal",
                  noise_mode="fresh per chunk (official)", filename_prefix=prefix, video_format="mp4 (h264)", output_frames="all")
    return host.nodes.NODE_CLASS_MAPPINGS["STV_Extend"].execute(**{**inputs, **changes})


@pytest.mark.parametrize("bad, value", [("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf)])
def test_start_frames_with_nan_or_inf_are_refused_naming_the_frame(host, bad, value):
    start = torch.rand(16, 48, 64, 3)
    start[11, 5, 7, 1] = value
    with pytest.raises(ValueError, match=r"start_frames has NaN or infinite values \(first in frame 11\); every new frame "
                                         r"would be NaN\. Check the node that made them"):
        extend_node(host, start, f"stv_nonfinite_{bad}")
    assert outputs_named(host, f"stv_nonfinite_{bad}") == []


MODELSCOPE_MESSAGE = ("model: this is the ModelScope T2V MODEL (the first-chunk model), which has no StreamingT2V CAM and "
                      "APM inputs and would ignore the start frames; connect the MODEL output of Load StreamingT2V")


def test_the_modelscope_model_wired_into_extend_is_refused_before_any_work(host):
    graph = first_chunk_and_extend(frames_to_add=8, prefix="stv_wrong_model")
    graph["20"]["inputs"]["model"] = ["1", 0]  # Load ModelScope T2V Model's MODEL (the first chunk's)
    with pytest.raises(HostExecutionError) as failure:
        host.run(graph)
    assert failure.value.exception_message.startswith(MODELSCOPE_MESSAGE)
    assert outputs_named(host, "stv_wrong_model") == []


def test_a_guider_on_the_modelscope_model_is_refused_by_extend_advanced(host):
    graph = with_extend_advanced(first_chunk_and_extend(frames_to_add=8, prefix="stv_wrong_guider"),
                                 {"class_type": "CFGGuider", "inputs": {"model": ["1", 0], "positive": ["4", 0],
                                                                        "negative": ["5", 0], "cfg": 7.5}})
    with pytest.raises(HostExecutionError) as failure:
        host.run(graph)
    assert failure.value.exception_message.startswith(MODELSCOPE_MESSAGE)
    assert outputs_named(host, "stv_wrong_guider") == []


def test_streamingt2v_conditioning_refuses_the_modelscope_model(host):
    from helpers.graphs import streamingt2v_chunk, text_to_video
    graph = streamingt2v_chunk(prefix="stv_wrong_cond")
    graph["m"] = text_to_video()["1"]
    graph["8"]["inputs"]["model"] = ["m", 0]
    with pytest.raises(HostExecutionError) as failure:
        host.run(graph)
    assert failure.value.exception_message.startswith(MODELSCOPE_MESSAGE)


def load_node(host, class_type: str, name: str):
    graph = {"1": {"class_type": class_type, "inputs": {
        "unet_name" if class_type == "STV_LoadModelScopeT2V" else "ckpt_name": name, "weight_dtype": "default"}}}
    graph["2"] = {"class_type": "PreviewAny", "inputs": {"source": ["1", 0], "preview": ""}}
    return host.run(graph)


def test_integer_weights_under_the_right_keys_are_refused(host, models_dir):
    name = "integer_unet.safetensors"
    save_file({k: (v * 100).to(torch.int32) if k.startswith("conv_in") else v for k, v in tiny_unet().state_dict().items()},
              os.path.join(models_dir, "streamingt2v", name))
    with pytest.raises(HostExecutionError) as failure:
        load_node(host, "STV_LoadModelScopeT2V", name)
    assert failure.value.exception_type.endswith("CheckpointError")
    assert (f"{name} does not fit a ModelScope text-to-video UNet" in failure.value.exception_message
            and "2 tensors are not floating point (e.g. conv_in.weight (int32), conv_in.bias (int32)); weights are fp32, "
                "fp16 or bf16" in failure.value.exception_message)


def test_integer_cam_weights_in_a_streamingt2v_checkpoint_are_refused(host, models_dir):
    from helpers.fixtures import official_weights
    name = "integer_cam.safetensors"
    sd = {k: v.to(torch.int64) if k.startswith("unet.") else v for k, v in official_weights().items()}  # official "unet." = CAM
    save_file(sd, os.path.join(models_dir, "streamingt2v", name))
    with pytest.raises(HostExecutionError, match=r"does not fit the cam of the StreamingT2V checkpoint .* tensors are not "
                                                 r"floating point \(e\.g\. .*\(int64\)"):
        load_node(host, "STV_LoadStreamingT2V", name)


@pytest.mark.parametrize("class_type", ["STV_LoadStreamingT2V", "STV_LoadModelScopeT2V"])
def test_an_empty_checkpoint_says_the_download_did_not_finish(host, models_dir, class_type):
    name = "empty_download.ckpt"
    open(os.path.join(models_dir, "streamingt2v", name), "wb").close()
    with pytest.raises(HostExecutionError) as failure:
        load_node(host, class_type, name)
    assert failure.value.exception_message.strip() == f"{name} is empty (0 bytes): the download did not finish; download it again."


def test_all_frames_beyond_ram_are_refused_in_the_preflight_with_the_figure_and_the_fix(host):
    import comfy.model_management as mm
    ram = mm.get_total_memory(torch.device("cpu"))
    side = 256
    frames_to_add = math.ceil(ram / (side * side * 3 * 4) / 8) * 8  # all frames: twice the share the pack allows
    assert frames_to_add <= 100000, "more RAM than the test can outgrow at 256x256"
    total = 16 + frames_to_add
    needed = total * side * side * 3 * 4
    with pytest.raises(ValueError) as failure:
        extend_node(host, torch.rand(16, side, side, 3), "stv_beyond_ram", frames_to_add=frames_to_add)
    assert str(failure.value) == (f"Holding all {total} frames needs {needed / 1e9:.1f} GB of RAM: set output_frames to "
                                  "'last chunk' (the video file still gets every frame).")
    assert outputs_named(host, "stv_beyond_ram") == []


# --- a truncated file at the final name is not "present" ---

@pytest.mark.parametrize("published", ["size", "sha256"])
def test_a_truncated_file_at_the_target_is_completed_not_reported_present(server, tmp_path, published):
    target = tmp_path / "model.bin"
    target.write_bytes(BODY[:100_000])  # a browser download that stopped, saved under the final name
    checks = {"size_bytes": len(BODY)} if published == "size" else {"sha256": SHA}
    assert fetch(server, target, **checks) is True
    assert target.read_bytes() == BODY and os.listdir(tmp_path) == ["model.bin"]
    assert server.requests[0]["Range"] == "bytes=100000-"  # continued from where the cut file ends


def test_a_damaged_file_of_the_right_size_is_not_present_and_the_next_try_replaces_it(server, tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"\0" * len(BODY))
    with pytest.raises(dl.DownloadError, match=f"SHA-256 .*, expected {SHA}. The broken download was deleted; try again"):
        fetch(server, target, sha256=SHA)
    assert os.listdir(tmp_path) == []
    assert fetch(server, target, sha256=SHA) is True
    assert target.read_bytes() == BODY


def test_the_listing_calls_a_short_file_incomplete(tmp_path, capsys):
    from st2v_modules import download as cli
    entry = find("raft_large")
    (tmp_path / "optical_flow").mkdir()
    (tmp_path / "optical_flow" / entry.path).write_bytes(b"cut short")
    assert cli.main(["--models-dir", str(tmp_path)]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("raft_large"))
    assert "incomplete" in line and "present" not in line


def test_the_download_node_reports_a_truncated_file_with_its_size(host):
    entry = find("raft_large")  # its size is published
    path = os.path.join(host.folder_paths.models_dir, entry.folder, entry.path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x" * 1000)
    try:
        outputs = host.run({"1": {"class_type": "STV_DownloadModels", "inputs": {"model": entry.name, "download": False}}})
        assert "".join(outputs["1"]["text"]) == (
            f"raft_large (21.1 MB) is at {path} but has 1,000 bytes, expected 21,106,607: a download that stopped early or "
            f"a damaged file. Switch download on and run again to fetch it to {path}.")
    finally:
        os.remove(path)
