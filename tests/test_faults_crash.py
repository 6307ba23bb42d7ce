"""A hard crash through the real server: ComfyUI (`main.py --cpu`) in its own process group runs a long extend
workflow sent by the headless runner; after two chunks the whole group gets SIGKILL, as an OOM kill or a power cut
would. Every finished chunk must be in the partial mp4, the manifest must say so, the runner must say what happened
and what was saved, and a second server must resume the run and make the frames an uninterrupted run makes."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers.comfy_server import extra_model_paths
from helpers.fake_models import write_taesd
from helpers.faults import GroupServer, wait_for_chunks
from helpers.graphs import first_chunk_and_extend, video_frames
from helpers.host import make_base_directory
from test_host_server import queue, wait_for

pytestmark = [pytest.mark.host, pytest.mark.server]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILL_AFTER_CHUNKS = 2
STEPS = 2


def server_args(models_dir: str, work) -> list[str]:
    (work / "web").mkdir(exist_ok=True)
    return ["--extra-model-paths-config", extra_model_paths(str(work), models_dir), "--front-end-root", str(work / "web")]


def extend_graph(**kwargs) -> dict:
    """First chunk + Extend with core Load VAE's TAESD: it decodes a chunk ten times faster than the SD VAE on a CPU."""
    graph = first_chunk_and_extend(steps=STEPS, **kwargs)
    graph["3"]["inputs"]["vae_name"] = "taesd"
    return graph


@pytest.fixture(scope="module")
def crash(host, comfyui_path, models_dir, tmp_path_factory) -> dict:
    """Runs the workflow, kills the server's process group after two chunks; what was left, as a dict."""
    work = tmp_path_factory.mktemp("crash")
    base, args = make_base_directory(), server_args(models_dir, work)
    write_taesd(os.path.join(base, "models", "vae_approx"))  # random weights: needs the host's TAESD class (`host`)
    workflow = work / "long_extend.json"
    workflow.write_text(json.dumps(extend_graph(frames_to_add=400, prefix="crash/stv_crash")))
    output = os.path.join(base, "output")
    with GroupServer(comfyui_path, base, *args) as server:
        runner = subprocess.Popen([sys.executable, "-m", "st2v_modules.run_workflow", str(workflow), "--url", server.url],
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        manifest_path = wait_for_chunks(os.path.join(output, "crash"), "stv_crash", KILL_AFTER_CHUNKS)
        server.kill()
    stdout, stderr = runner.communicate(timeout=120)
    with open(manifest_path) as f:
        manifest = json.load(f)
    return {"base": base, "args": args, "output": output, "manifest_path": manifest_path, "manifest": manifest,
            "runner": (runner.returncode, stdout, stderr)}


def test_a_hard_crash_keeps_every_finished_chunk_in_the_partial_mp4(crash):
    manifest = crash["manifest"]
    assert len(manifest["chunk_log"]) == KILL_AFTER_CHUNKS  # killed within milliseconds; a chunk takes seconds
    video = os.path.join(crash["output"], "crash", manifest["video"])
    assert video.endswith("_.partial.mp4") and not os.path.exists(video.replace(".partial", ""))
    assert video_frames(video) == (16 + 8 * KILL_AFTER_CHUNKS, 64, 48)


def test_the_manifest_of_a_killed_run_says_running_and_names_its_files(crash):
    manifest, folder = crash["manifest"], os.path.join(crash["output"], "crash")
    base = os.path.basename(crash["manifest_path"])[:-len(".json")]
    assert manifest["status"] == "running" and "error" not in manifest and "finished" not in manifest
    assert (manifest["chunks"], manifest["chunks_done"], manifest["chunk_offset"]) == (50, KILL_AFTER_CHUNKS, 0)
    assert [c["chunk"] for c in manifest["chunk_log"]] == list(range(KILL_AFTER_CHUNKS))
    assert (manifest["video"], manifest["resume_frames"]) == (base + ".partial.mp4", base + ".resume.safetensors")
    assert os.path.isfile(os.path.join(folder, manifest["resume_frames"]))
    assert not [f for f in os.listdir(folder) if f.endswith(".tmp")]  # every file whole


def test_the_runner_says_the_server_closed_the_connection_and_what_was_saved(crash):
    returncode, stdout, stderr = crash["runner"]
    assert returncode == 1 and stdout == "" and "Traceback" not in stderr
    assert "ComfyUI: the ComfyUI server closed the connection" in stderr and "while the workflow ran" in stderr
    folder = os.path.join(crash["output"], "crash")
    saved = stderr[stderr.index("Saved so far:"):].splitlines()
    for name in (crash["manifest"]["video"], crash["manifest"]["resume_frames"]):
        assert f"  {os.path.join(folder, name)}" in saved
    assert (f"  {crash['manifest_path']} (status 'running', {KILL_AFTER_CHUNKS} chunks; resume with "
            "--set STV_Extend.resume_manifest=<this file under the output folder>)") in saved


def preview_frames(base: str, entry: dict) -> np.ndarray:
    """The frames Extend returned, as its PreviewImage saved them (8-bit PNGs in the server's temp folder)."""
    images = entry["outputs"]["21"]["images"]
    return np.stack([np.asarray(Image.open(os.path.join(base, "temp", i["subfolder"], i["filename"]))) for i in images])


def test_a_killed_run_resumes_on_a_new_server_and_makes_the_uninterrupted_run_s_frames(crash, comfyui_path):
    done, folder = KILL_AFTER_CHUNKS, os.path.join(crash["output"], "crash")
    name = "crash/" + os.path.basename(crash["manifest_path"])
    resume = extend_graph(frames_to_add=16, prefix="crash/stv_resumed", resume_manifest=name)
    whole = extend_graph(frames_to_add=8 * done + 16, prefix="crash/stv_whole")
    with GroupServer(comfyui_path, crash["base"], *crash["args"]) as server:
        resumed_entry = wait_for(server.url, queue(server.url, resume))
        whole_entry = wait_for(server.url, queue(server.url, whole))  # the first chunk and the models come from the cache
    assert resumed_entry["status"]["status_str"] == "success", resumed_entry["status"]
    assert whole_entry["status"]["status_str"] == "success", whole_entry["status"]
    (record,) = [f for f in os.listdir(folder) if f.startswith("stv_resumed") and f.endswith(".json")]
    with open(os.path.join(folder, record)) as f:
        manifest = json.load(f)
    assert manifest["status"] == "complete" and manifest["resumed_from"] == name and manifest["chunk_offset"] == done
    assert [c["chunk"] for c in manifest["chunk_log"]] == [done, done + 1]
    assert video_frames(os.path.join(folder, manifest["video"]))[0] == 16 + 8 * done + 16
    assert video_frames(os.path.join(folder, crash["manifest"]["video"]))[0] == 16 + 8 * done  # the old one untouched

    resumed, uninterrupted = preview_frames(crash["base"], resumed_entry), preview_frames(crash["base"], whole_entry)
    assert resumed.shape == uninterrupted.shape == (16 + 8 * done + 16, 48, 64, 3)
    lossless = 16 + 8 * done - 8  # from here on: the saved last 8 frames, then the resumed chunks
    assert np.array_equal(resumed[lossless:], uninterrupted[lossless:]) and np.array_equal(resumed[0], uninterrupted[0])
    assert not np.array_equal(resumed[1:lossless], uninterrupted[1:lossless])  # the frames read back from the mp4 are not
