"""The model downloader against a real HTTP server on 127.0.0.1: resume, checksums, Range refusal."""
import hashlib
import os
import re
import socket
import subprocess
import sys

import pytest

from helpers.file_server import FileServer
from st2v_modules import download as cli
from st2v_modules.model_files import downloader as dl
from st2v_modules.model_files.catalog import CATALOG, HF, find, markdown_table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = os.urandom(3 * dl.CHUNK_BYTES + 12345)  # several read blocks, not a multiple of one
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def server():
    s = FileServer()
    s.files["/model.bin"] = BODY
    yield s
    s.close()


def fetch(server, target, **options):
    return dl.download_file(server.url + "/model.bin", str(target), retry_wait_s=0, **options)


def test_complete_download_is_checked_and_renamed(server, tmp_path):
    seen = []
    target = tmp_path / "sub" / "model.bin"
    assert fetch(server, target, sha256=SHA, size_bytes=len(BODY), progress=lambda d, t: seen.append((d, t))) is True
    assert target.read_bytes() == BODY
    assert not (tmp_path / "sub" / "model.bin.part").exists()
    assert seen[0] == (0, len(BODY)) and seen[-1] == (len(BODY), len(BODY))
    assert "Range" not in server.requests[0]


def test_broken_connection_resumes_with_a_range_request(server, tmp_path):
    server.break_after = [1_000_000]
    target = tmp_path / "model.bin"
    assert fetch(server, target, sha256=SHA)
    assert target.read_bytes() == BODY
    assert [r.get("Range") for r in server.requests] == [None, "bytes=1000000-"]


def test_a_later_call_resumes_what_an_earlier_one_left(server, tmp_path):
    server.break_after = [2_500_000]
    target = tmp_path / "model.bin"
    with pytest.raises(dl.DownloadError, match="next try continues from there"):
        fetch(server, target, sha256=SHA, attempts=1)
    assert (tmp_path / "model.bin.part").stat().st_size == 2_500_000 and not target.exists()
    assert fetch(server, target, sha256=SHA)  # hashes the kept bytes, then appends the rest
    assert target.read_bytes() == BODY
    assert server.requests[-1]["Range"] == "bytes=2500000-"


def test_a_part_that_is_already_complete_is_verified_without_refetching(server, tmp_path):
    (tmp_path / "model.bin.part").write_bytes(BODY)
    assert fetch(server, tmp_path / "model.bin", sha256=SHA)
    assert (tmp_path / "model.bin").read_bytes() == BODY
    assert server.requests[0]["Range"] == f"bytes={len(BODY)}-"  # answered 416: nothing left to send


def test_wrong_checksum_leaves_no_file_and_says_what_was_expected(server, tmp_path):
    wrong = "0" * 64
    target = tmp_path / "model.bin"
    with pytest.raises(dl.DownloadError) as error:
        fetch(server, target, sha256=wrong)
    assert f"SHA-256 {SHA}, expected {wrong}" in str(error.value) and "deleted" in str(error.value)
    assert os.listdir(tmp_path) == []  # neither the file nor the .part


def test_wrong_size_is_refused_before_hashing(server, tmp_path):
    with pytest.raises(dl.DownloadError, match=f"has {len(BODY):,} bytes, expected 5"):
        fetch(server, tmp_path / "model.bin", sha256=SHA, size_bytes=5)
    assert os.listdir(tmp_path) == []


def test_server_without_range_support_restarts_from_zero(server, tmp_path):
    server.ranges = False
    (tmp_path / "model.bin.part").write_bytes(b"stale bytes from an older file")
    assert fetch(server, tmp_path / "model.bin", sha256=SHA)
    assert (tmp_path / "model.bin").read_bytes() == BODY
    assert server.requests[0]["Range"] == "bytes=30-"  # asked to resume; got the whole file back


def test_present_file_is_not_downloaded(server, tmp_path):
    (tmp_path / "model.bin").write_bytes(BODY)
    assert fetch(server, tmp_path / "model.bin", sha256=SHA, size_bytes=len(BODY)) is False
    assert (tmp_path / "model.bin").read_bytes() == BODY and server.requests == []
    (tmp_path / "other.bin").write_bytes(b"mine")  # nothing published to check it against: taken as it is
    assert fetch(server, tmp_path / "other.bin") is False and server.requests == []


def test_missing_file_is_a_clear_error_without_retries(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="HTTP 404"):
        dl.download_file(server.url + "/nope.bin", str(tmp_path / "nope.bin"), retry_wait_s=0)
    assert len(server.requests) == 1


def test_unreachable_server_says_nothing_was_downloaded_and_where_the_file_goes(tmp_path):
    with socket.socket() as s:  # a port nothing listens on: every try is refused, no .part is ever made
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/model.bin"
    with pytest.raises(dl.DownloadError, match="nothing was downloaded") as error:
        dl.download_file(url, str(tmp_path / "model.bin"), attempts=2, retry_wait_s=0)
    assert str(tmp_path / "model.bin") in str(error.value) and not os.listdir(tmp_path)


def test_file_without_published_checksum_is_kept_with_a_warning(server, tmp_path, caplog):
    assert fetch(server, tmp_path / "model.bin", sha256=None)
    assert (tmp_path / "model.bin").read_bytes() == BODY
    assert "NOT verified" in caplog.text


def test_progress_callback_can_cancel_and_the_part_is_kept(server, tmp_path):
    stopped_at = []

    def cancel_after_first_block(done, total):
        if done > 0:
            stopped_at.append(done)
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        fetch(server, tmp_path / "model.bin", progress=cancel_after_first_block)
    assert (tmp_path / "model.bin.part").stat().st_size == stopped_at[0] > 0


def test_hf_endpoint_redirects_hugging_face_files_only(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example/")
    assert dl.source_url(f"{HF}/PAIR/StreamingT2V/resolve/main/x.ckpt") == "https://mirror.example/PAIR/StreamingT2V/resolve/main/x.ckpt"
    assert dl.source_url("https://download.pytorch.org/models/r.pth") == "https://download.pytorch.org/models/r.pth"


def test_catalog_entries_are_well_formed():
    names = [e.name for e in CATALOG]
    assert len(names) == len(set(names))
    for e in CATALOG:
        assert e.url.startswith("https://") and e.url.endswith(e.path.rsplit("/", 1)[-1]), e.name
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256), e.name
        assert e.folder in {"streamingt2v", "text_encoders", "vae", "optical_flow"}, e.name
    assert find("streamingt2v").sha256 == "821f94e00bb9e25b0b03ab5a37ac01d31a24df4573f2b7809c34c54c9712aa5c"
    # torchvision names its weight files after the first 8 hex digits of their SHA-256
    assert find("raft_large").sha256.startswith(find("raft_large").path.split("-")[-1][:8])
    assert "not published" in markdown_table()  # missing checksums are said, not guessed


def test_command_line_lists_the_catalog_and_what_is_present(tmp_path, capsys):
    (tmp_path / "text_encoders" / "MS-Vid2Vid-XL").mkdir(parents=True)
    (tmp_path / "text_encoders" / find("enhancer_text_encoder").path).write_bytes(b"x")  # no size or checksum published
    assert cli.main(["--models-dir", str(tmp_path)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "present" in lines["enhancer_text_encoder"] and "missing" in lines["streamingt2v"]


def test_command_line_downloads_through_a_mirror_and_fails_on_a_bad_file(server, tmp_path):
    entry = find("modelscope_t2v_vae")
    server.files["/" + entry.url[len(HF) + 1:]] = BODY  # not the real VAE: its checksum cannot match
    result = subprocess.run([sys.executable, "-m", "st2v_modules.download", entry.name, "--models-dir", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, env={**os.environ, "HF_ENDPOINT": server.url})
    assert result.returncode == 1
    assert f"expected {entry.sha256}" in result.stderr and "100%" in result.stderr  # the bar ran to the end
    assert not os.path.exists(dl.target_path(entry, str(tmp_path / entry.folder)))


# --- the Download Models node inside the real ComfyUI ---

def download_graph(model: str, download: bool) -> dict:
    return {"1": {"class_type": "STV_DownloadModels", "inputs": {"model": model, "download": download}}}


def shown_text(outputs: dict) -> str:
    return "".join(outputs["1"]["text"])


@pytest.mark.host
def test_node_is_registered_as_a_loader_that_downloads_nothing_by_default(host):
    info = host.nodes.NODE_CLASS_MAPPINGS["STV_DownloadModels"].GET_NODE_INFO_V1()
    assert info["category"] == "StreamingT2V/loaders" and info["output_node"] is True
    model, download = info["input"]["required"]["model"], info["input"]["required"]["download"]
    assert model[1]["options"] == [e.name for e in CATALOG]
    assert download[0] == "BOOLEAN" and download[1]["default"] is False


@pytest.mark.host
def test_node_with_download_off_only_reports_and_touches_no_network(host, server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)  # any fetch would land here
    entry = find("streamingt2v")
    text = shown_text(host.run(download_graph(entry.name, False)))
    target = os.path.join(host.folder_paths.get_folder_paths("streamingt2v")[0], entry.path)
    assert text == f"streamingt2v (25.6 GB) is missing. Switch download on and run again to fetch it to {target}."
    assert server.requests == [] and not os.path.exists(target) and not os.path.exists(target + ".part")


@pytest.mark.host
def test_node_finds_a_present_file_without_downloading(host):
    entry = find("enhancer_unet")  # nothing published to check it against (a checked file: tests/test_faults_inputs.py)
    path = os.path.join(host.folder_paths.get_folder_paths(entry.folder)[0], entry.path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"weights")
    try:
        assert shown_text(host.run(download_graph(entry.name, True))) == f"enhancer_unet is present: {path}"
    finally:
        os.remove(path)
        os.rmdir(os.path.dirname(path))


@pytest.mark.host
def test_node_download_refuses_a_file_with_the_wrong_checksum(host, server, monkeypatch):
    from helpers.host import HostExecutionError
    entry = find("modelscope_t2v_vae")
    server.files["/" + entry.url[len(HF) + 1:]] = BODY
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    folder = host.folder_paths.get_folder_paths("vae")[0]
    try:
        with pytest.raises(HostExecutionError) as error:
            host.run(download_graph(entry.name, True))
        assert error.value.exception_message.startswith("Download Models: diffusion_pytorch_model.fp16.safetensors from ")
        assert f"expected {entry.sha256}" in error.value.exception_message
        assert len(server.requests) == 1
        assert not os.path.exists(dl.target_path(entry, folder)) and not os.path.exists(dl.target_path(entry, folder) + ".part")
    finally:
        os.rmdir(os.path.dirname(dl.target_path(entry, folder)))
