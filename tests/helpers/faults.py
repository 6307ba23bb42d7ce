"""Faults the way users meet them: a full disk (a small tmpfs mounted for the test) and a hard crash (a ComfyUI
server in its own process group, killed with SIGKILL together with everything it started)."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from typing import Iterator

import pytest

from helpers.comfy_server import free_port, start_main


@contextlib.contextmanager
def tmpfs(folder: str, size: str) -> Iterator[str]:
    """`folder` as a tmpfs of `size` (e.g. '600k') for the test, unmounted afterwards. Needs root: skipped with the
    reason elsewhere; where the suite must run it (STV_REQUIRE_HOST, as in CI) a failed mount fails the test."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a tmpfs, which only root can mount")
    os.makedirs(folder, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", folder], capture_output=True, text=True)
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs at {folder}: {mounted.stderr.strip()}"
        if os.environ.get("STV_REQUIRE_HOST"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", folder], check=True)


def grow_tmpfs(folder: str, size: str) -> None:
    """Free space the way a user would: here by making the file system bigger."""
    subprocess.run(["mount", "-o", f"remount,size={size}", folder], check=True)


class GroupServer:
    """ComfyUI's main.py (CPU, in-memory database) in a session and process group of its own, so `kill()` takes it
    and every process it started down at once, as the OOM killer or a power cut would."""

    def __init__(self, comfyui_path: str, base: str, *extra_args: str):
        port = free_port()
        self.url, self.log_path = f"http://127.0.0.1:{port}", os.path.join(base, f"server_{port}.log")
        self.process = start_main(comfyui_path, base, port, self.log_path, extra_args, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL to the whole process group; returns once the server is gone."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    def __enter__(self) -> "GroupServer":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()


def wait_for_chunks(manifest_folder: str, prefix: str, chunks: int, timeout_s: float = 900) -> str:
    """The path of the manifest `<prefix>*.json` once its chunk_log records `chunks` chunks."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        names = [f for f in os.listdir(manifest_folder) if f.startswith(prefix) and f.endswith(".json")] \
            if os.path.isdir(manifest_folder) else []
        for name in names:
            with open(os.path.join(manifest_folder, name)) as f:
                if len(json.load(f)["chunk_log"]) >= chunks:  # written whole or not at all: never half a file
                    return os.path.join(manifest_folder, name)
        time.sleep(0.05)
    raise TimeoutError(f"no {prefix}*.json with {chunks} chunks in {timeout_s} s")
