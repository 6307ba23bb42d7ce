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

START_TIMEOUT_S = 300  # a busy machine takes minutes to import torch and the nodes
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


def start_main(comfyui_path: str, base: str, port: int, log_path: str, extra_args: tuple[str, ...],
               **popen_options) -> subprocess.Popen:
    """main.py on 127.0.0.1:`port`, answering once this returns (CPU, in-memory database, no API nodes)."""
    command = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--base-directory", base,
               "--database-url", "sqlite:///:memory:", "--disable-api-nodes", "--disable-auto-launch", *extra_args]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=comfyui_path, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, **popen_options)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/system_stats", timeout=2).raise_for_status()
            return process
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                with open(log_path) as f:
                    raise ServerStartError(f"ComfyUI did not start:\n{f.read()[-3000:]}") from None
            time.sleep(0.5)


@contextlib.contextmanager
def running_server(comfyui_path: str, base: str, *extra_args: str) -> Iterator[str]:
    """Yields the server's URL; `<base>/server.log` holds its output."""
    port = free_port()
    process = start_main(comfyui_path, base, port, os.path.join(base, "server.log"), extra_args)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
