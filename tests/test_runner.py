"""The headless runner (`python -m st2v_modules.run_workflow`) against a real ComfyUI on 127.0.0.1 with tiny models."""
import json
import os
import subprocess
import sys

import pytest

from helpers.fake_models import NOT_A_UNET
from helpers.graphs import text_to_video, video_frames
from helpers.host import make_base_directory
from helpers.comfy_server import extra_model_paths, free_port
from st2v_modules.headless.server import GPU_CHECK, device_args
from test_host_server import server  # noqa: F401  (the module's headless ComfyUI fixture)

pytestmark = [pytest.mark.host, pytest.mark.server]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_TIMEOUT_S = 300


def runner(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "st2v_modules.run_workflow", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


@pytest.fixture(scope="module")
def workflow_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("workflows") / "first_chunk.json"
    path.write_text(json.dumps(text_to_video(width=56, height=40, steps=1, prefix="runner/base")))
    return str(path)


def headless_args(comfyui_path: str, models_dir: str, work) -> list[str]:
    """main.py arguments for a run that starts its own ComfyUI: temporary base folder, our models folder (no --cpu:
    the runner adds it on a machine without a GPU)."""
    (work / "web").mkdir()
    args = ["--base-directory", make_base_directory(), "--database-url", "sqlite:///:memory:", "--disable-api-nodes",
            "--extra-model-paths-config", extra_model_paths(str(work), models_dir), "--front-end-root", str(work / "web")]
    return ["--comfyui", comfyui_path, "--comfyui-args=" + " ".join(args)]


def test_starts_comfyui_runs_with_overrides_and_prints_the_video(comfyui_path, models_dir, workflow_file, tmp_path):
    result = runner(workflow_file, *headless_args(comfyui_path, models_dir, tmp_path), "--prompt", "a heron fishing",
                    "--seed", "11", "--frames", "24", "--set", "SaveVideo.filename_prefix=runner/ok")
    assert result.returncode == 0, result.stderr
    (path,) = result.stdout.split()
    assert os.path.basename(path).startswith("ok") and path.endswith(".mp4")
    assert video_frames(path) == (24, 56, 40)
    assert "set 4 (CLIPTextEncode).text = 'a heron fishing'" in result.stderr
    assert "set 7 (KSampler).seed = 11" in result.stderr
    assert "node 7 (KSampler)" in result.stderr and "100%" in result.stderr  # the sampler's progress bar
    if not subprocess.run([sys.executable, "-c", GPU_CHECK]).returncode == 0:
        assert "no GPU found: starting ComfyUI with --cpu" in result.stderr


def test_a_device_chosen_in_the_arguments_is_kept():
    assert device_args(["--cpu", "--lowvram"]) == ["--cpu", "--lowvram"]
    assert device_args(["--directml", "1"]) == ["--directml", "1"]


def test_refused_workflow_exits_1_with_the_hosts_message(server, workflow_file):
    url, _, _ = server
    result = runner(workflow_file, "--url", url, "--set", "STV_EmptyVideoLatent.width=50")
    assert result.returncode == 1
    assert "width is 50; it must be a multiple of 8" in result.stderr and result.stdout == ""


def test_failing_node_exits_1_with_the_hosts_error(server, workflow_file):
    url, _, _ = server
    result = runner(workflow_file, "--url", url, "--set", f"STV_LoadModelScopeT2V.unet_name={NOT_A_UNET}")
    assert result.returncode == 1
    assert "ComfyUI: node 1 (STV_LoadModelScopeT2V) failed: CheckpointError:" in result.stderr
    assert "expected a ModelScope text-to-video UNet" in result.stderr


def test_problems_before_the_run_exit_2(workflow_file):
    missing = runner("workflow_that_is_not_there")
    assert missing.returncode == 2 and "no workflow file 'workflow_that_is_not_there'" in missing.stderr
    closed_port = f"http://127.0.0.1:{free_port()}"
    unreachable = runner(workflow_file, "--url", closed_port)
    assert unreachable.returncode == 2 and f"cannot reach ComfyUI at {closed_port}" in unreachable.stderr


def test_shipped_workflow_by_name_with_overrides(server, models_dir):
    from helpers.fake_models import DIFFUSERS_UNET
    from helpers.official_checkpoint import write_complete_streamingt2v
    url, _, _ = server
    ckpt = write_complete_streamingt2v(models_dir)  # a StreamingT2V file with its own CLIP, VAE and image encoder
    result = runner("streamingt2v_text_to_video", "--url", url, "--prompt", "a red kite over dunes", "--seed", "4",
                    "--frames", "24", "--set", f"STV_LoadModelScopeT2V.unet_name={DIFFUSERS_UNET}",
                    "--set", f"STV_LoadStreamingT2V.ckpt_name={ckpt}", "--set", "STV_EmptyVideoLatent.width=64",
                    "--set", "STV_EmptyVideoLatent.height=48", "--set", "KSampler.steps=1",
                    "--set", "STV_Extend.steps=1", "--set", "STV_Extend.filename_prefix=runner/shipped")
    assert result.returncode == 0, result.stderr
    assert "set 10 (StreamingT2V Extend).frames_to_add = 8" in result.stderr  # 24 frames = the 16-frame first chunk + 8
    assert "set 4 (Prompt).text = 'a red kite over dunes'" in result.stderr
    (path,) = result.stdout.split()  # the path the workflow's Video file node shows
    assert os.path.basename(path).startswith("shipped") and video_frames(path) == (24, 64, 48)


def test_a_shipped_workflow_without_its_models_names_every_file_and_the_command_that_fetches_them(server):
    from st2v_modules.model_files.catalog import find
    url, _, _ = server
    result = runner("streamingt2v_text_to_video", "--url", url)
    assert result.returncode == 1 and result.stdout == ""
    for entry in (find("modelscope_t2v_unet"), find("streamingt2v")):
        assert f"{os.path.basename(entry.path)} is missing: {entry.size} from {entry.url}, to go to " in result.stderr
    assert ("Without the browser, fetch every missing model file in the pack's folder with ComfyUI's Python: "
            "python -m st2v_modules.download modelscope_t2v_unet streamingt2v; then run this command again.") in result.stderr
    assert "press R" not in result.stderr and "STV_Load" not in result.stderr  # the nodes by their titles


def test_extend_your_video_runs_headless_with_the_clip_named_on_load_video(server, models_dir):
    """README, Run without the browser: the clip goes into ComfyUI's input folder and --set names it on Load Video."""
    from helpers.official_checkpoint import write_complete_streamingt2v
    from helpers.workflow_cases import TEST_VIDEO, TEST_VIDEO_FRAMES
    from test_workflows import write_start_media
    url, base, _ = server
    ckpt = write_complete_streamingt2v(models_dir)
    write_start_media(os.path.join(base, "input"))
    result = runner("streamingt2v_extend_your_video", "--url", url, "--set", f"Load Video.file={TEST_VIDEO}",
                    "--set", "StreamingT2V Extend.frames_to_add=8", "--prompt", "a boat on a lake",
                    "--set", f"Load StreamingT2V.ckpt_name={ckpt}", "--set", "Scale to 256 × 256.width=32",
                    "--set", "Scale to 256 × 256.height=16", "--set", "StreamingT2V Extend.steps=1",
                    "--set", "StreamingT2V Extend.filename_prefix=runner/extended")
    assert result.returncode == 0, result.stderr
    assert f"set 3 (Load Video).file = '{TEST_VIDEO}'" in result.stderr
    (path,) = result.stdout.split()
    assert os.path.basename(path).startswith("extended") and video_frames(path) == (TEST_VIDEO_FRAMES + 8, 32, 16)
