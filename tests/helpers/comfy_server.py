"""ComfyUI's main.py as a subprocess on 127.0.0.1 (spec comfyui_host.md 0.4): started, awaited, stopped."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from typing import Iterator

import requests

START_TIMEOUT_S = 120
MODEL_FOLDERS = ("streamingt2v", "text_encoders", "vae", "clip_vision")


def extra_model_paths(folder: str, models_dir: str) -> str:
    """An extra_model_paths.yaml in `folder` that gives a server the test models folder; returns its path."""
    path = os.path.join(folder, "extra_model_paths.yaml")
    with open(path, "w") as f:
        f.write("tiny:\n" + "".join(f"    {name}: {os.path.join(models_dir, name)}\n" for name in MODEL_FOLDERS))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerStartError(RuntimeError):
    pass


@contextlib.contextmanager
def running_server(comfyui_path: str, base: str, *extra_args: str) -> Iterator[str]:
    """Yields the server's URL; `<base>/server.log` holds its output. CPU, in-memory database, no API nodes."""
    port = free_port()
    command = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--base-directory", base,
               "--database-url", "sqlite:///:memory:", "--disable-api-nodes", "--disable-auto-launch", *extra_args]
    log_path = os.path.join(base, "server.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=comfyui_path, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    requests.get(f"{url}/system_stats", timeout=2).raise_for_status()
                    break
                except requests.RequestException:
                    if process.poll() is not None or time.monotonic() > deadline:
                        with open(log_path) as f:
                            raise ServerStartError(f"ComfyUI did not start:\n{f.read()[-3000:]}") from None
                    time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)
