"""Starts ComfyUI's main.py on 127.0.0.1 for one headless run and stops it afterwards."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

LOG_TAIL_CHARS = 4000
GPU_CHECK = "import sys, torch; sys.exit(0 if torch.cuda.is_available() or torch.backends.mps.is_available() else 1)"


class ServerStartError(RuntimeError):
    """main.py exited or did not answer in time; the message ends with its log."""


def device_args(args: list[str]) -> list[str]:
    """main.py's arguments with `--cpu` in front when this Python's torch finds no GPU, as scripts/setup.sh does
    (without it main.py stops with "Found no NVIDIA driver"), unless they already choose a device."""
    if any(arg == "--cpu" or arg.startswith("--directml") for arg in args):
        return args
    found = subprocess.run([sys.executable, "-c", GPU_CHECK], capture_output=True).returncode == 0
    return args if found else ["--cpu", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HeadlessComfyUI:
    """`with HeadlessComfyUI(path, args) as server: server.url`; extra args go to main.py (e.g. --cpu)."""

    def __init__(self, comfyui: str, args: list[str], start_timeout_s: float = 180.0):
        if not os.path.isfile(os.path.join(comfyui, "main.py")):
            raise ServerStartError(f"{comfyui} is not a ComfyUI folder (no main.py in it)")
        self.comfyui, self.start_timeout_s = os.path.abspath(comfyui), start_timeout_s
        self.argv = ["main.py", "--listen", "127.0.0.1", "--port", str(free_port()), "--disable-auto-launch", *args]
        self.url = f"http://127.0.0.1:{self.argv[4]}"
        self.log_path = os.path.join(tempfile.mkdtemp(prefix="stv_comfyui_"), "comfyui.log")
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "HeadlessComfyUI":
        log = open(self.log_path, "w")
        self.process = subprocess.Popen([sys.executable, *self.argv], cwd=self.comfyui, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                urllib.request.urlopen(self.url + "/system_stats", timeout=2).close()
                return self
            except (urllib.error.URLError, OSError):
                if self.process.poll() is not None:
                    self._stop()
                    raise ServerStartError(f"ComfyUI exited with status {self.process.returncode} while starting:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    self._stop()
                    raise ServerStartError(f"ComfyUI did not answer within {self.start_timeout_s:.0f} s:\n{self.log_tail()}")
                time.sleep(0.5)

    def __exit__(self, *exc) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()[-LOG_TAIL_CHARS:]
