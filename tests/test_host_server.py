"""The pack in a real ComfyUI server (`main.py --cpu` on 127.0.0.1), driven over HTTP as the browser does."""
import json
import os
import time

import pytest
import requests

from helpers.comfy_server import extra_model_paths, running_server
from helpers.graphs import first_chunk_and_extend, text_to_video, video_frames
from helpers.host import make_base_directory

pytestmark = [pytest.mark.host, pytest.mark.server]
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def server(comfyui_path, models_dir, tmp_path_factory):
    """main.py with the pack in custom_nodes and our models folder added through extra_model_paths.yaml."""
    base = make_base_directory()
    work = tmp_path_factory.mktemp("server")
    web_root = work / "web"
    web_root.mkdir()
    with running_server(comfyui_path, base, "--extra-model-paths-config", extra_model_paths(str(work), models_dir),
                        "--front-end-root", str(web_root)) as url:
        yield url, base, os.path.join(base, "server.log")


def test_pack_imports_without_failure(server):
    _, _, log = server
    text = open(log).read()
    assert "ComfyUI-StreamingT2V" in text and "IMPORT FAILED" not in text


def test_object_info_shows_our_nodes_with_the_model_files(server):
    url, _, _ = server
    info = requests.get(f"{url}/object_info/STV_LoadModelScopeT2V", timeout=10).json()["STV_LoadModelScopeT2V"]
    names = info["input"]["required"]["unet_name"][1]["options"]
    assert "text-to-video-ms-1.7b/unet/diffusion_pytorch_model.safetensors" in names
    assert info["output"] == ["MODEL"] and info["category"] == "StreamingT2V/loaders"


def queue(url: str, graph: dict) -> str:
    response = requests.post(f"{url}/prompt", json={"prompt": graph, "client_id": "t"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["prompt_id"]


def wait_for(url: str, prompt_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        history = requests.get(f"{url}/history/{prompt_id}", timeout=10).json()
        if prompt_id in history and history[prompt_id]["status"].get("completed") is not None:
            return history[prompt_id]
        time.sleep(0.5)
    pytest.fail(f"prompt {prompt_id} did not finish in {RUN_TIMEOUT_S} s")


def test_prompt_makes_a_16_frame_video(server):
    url, base, _ = server
    entry = wait_for(url, queue(url, text_to_video(width=56, height=40, prefix="stv_server")))
    assert entry["status"]["status_str"] == "success", entry["status"]
    (saved,) = entry["outputs"]["10"]["images"]
    path = os.path.join(base, "output", saved["subfolder"], saved["filename"])
    assert video_frames(path) == (16, 56, 40)


def test_invalid_size_is_a_400_naming_the_input(server):
    url, _, _ = server
    response = requests.post(f"{url}/prompt", json={"prompt": text_to_video(width=50)}, timeout=10)
    assert response.status_code == 400
    assert "width is 50; it must be a multiple of 8" in response.text


def test_interrupt_keeps_the_partial_video_and_says_so(server):
    url, base, _ = server
    prompt_id = queue(url, first_chunk_and_extend(frames_to_add=400, steps=4, prefix="stv_cancel"))
    output = os.path.join(base, "output")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    manifest_path = None
    while time.monotonic() < deadline:  # wait until at least one chunk is on disk
        manifests = [f for f in os.listdir(output) if f.startswith("stv_cancel") and f.endswith(".json")] if os.path.isdir(output) else []
        if manifests:
            manifest_path = os.path.join(output, manifests[0])
            try:
                if json.load(open(manifest_path))["chunk_log"]:
                    break
            except json.JSONDecodeError:
                pass
        time.sleep(0.2)
    requests.post(f"{url}/interrupt", timeout=10)
    entry = wait_for(url, prompt_id)
    assert entry["status"]["status_str"] == "error"
    manifest = json.load(open(manifest_path))
    assert manifest["status"] == "cancelled" and 1 <= manifest["chunks_done"] < manifest["chunks"]
    partial = os.path.join(output, manifest["video"])
    assert partial.endswith(".partial.mp4")
    assert video_frames(partial)[0] == 16 + 8 * manifest["chunks_done"]
    assert not os.path.exists(partial.replace(".partial.mp4", ".mp4"))
