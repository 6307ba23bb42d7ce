"""`python -m st2v_modules.distributed` on a local Ray cluster bound to 127.0.0.1 with 2 CPUs: two workers, each a
headless ComfyUI --cpu on the tiny models, run prompt lists; a worker is killed mid-video the hard way (SIGKILL of its
process group: the actor and its ComfyUI) and its video goes on from its manifest elsewhere; a second pool enhances
each video in two segments while the first extends the next. The cluster is this test process's; every Ray process
it started is gone at the end."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from helpers.graphs import extend_and_enhance, first_chunk_and_extend, video_frames
from helpers.host import make_base_directory
from st2v_modules.distributed.cluster import LOCAL_ONLY

os.environ[LOCAL_ONLY] = "0"  # before ray is imported: this test's cluster listens on 127.0.0.1 only
try:
    import ray
except ImportError:
    if os.environ.get("STV_REQUIRE_HOST"):
        raise
    pytest.skip("Ray is not installed: pip install -r requirements-distributed.txt", allow_module_level=True)

pytestmark = [pytest.mark.host, pytest.mark.server]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_TIMEOUT_S = 900
PNG = "png sequence (lossless)"


def processes_mentioning(text: str) -> set[int]:
    """Processes whose command line holds `text`, and all their descendants."""
    parents, found = {}, set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if text in cmdline:
            found.add(int(pid))
    grown = True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in found} - found
        found |= children
        grown = bool(children)
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"}


@pytest.fixture(scope="module")
def cluster():
    """A Ray cluster of this process on 127.0.0.1 (2 CPUs); yields its address. Stopped with every process it had."""
    temp = tempfile.mkdtemp(prefix="stv_ray_")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_memory_monitor_refresh_ms", "0")  # Ray would kill workers for what other jobs of a shared machine use
        ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, _temp_dir=temp,
                 log_to_driver=False, configure_logging=False)
    address = ray.get_runtime_context().gcs_address
    try:
        assert address.startswith("127.0.0.1:")
        yield address
    finally:
        started = processes_mentioning(temp)
        ray.shutdown()
        deadline = time.monotonic() + 60
        while alive(started) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = {pid: open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ")[:200] for pid in alive(started)}
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"Ray processes still running after ray.shutdown: {left}"


@pytest.fixture(scope="module")
def workers_args(comfyui_path, models_dir, host, tmp_path_factory) -> list[str]:
    """The command's options for this machine's ComfyUI with the pack and the tiny models folder (with the random
    TAESD of the enhancer tests, made from the booted host's shapes)."""
    from helpers.fake_models import write_taesd
    write_taesd(os.path.join(models_dir, "vae_approx"))
    web = tmp_path_factory.mktemp("web")
    comfy = f"--base-directory {make_base_directory()} --database-url sqlite:///:memory: --disable-api-nodes --front-end-root {web}"
    return ["--cpu", "--comfyui", comfyui_path, "--models", models_dir, f"--comfyui-args={comfy}"]


class Command:
    """The command as a user runs it, its stderr followed line by line (progress bars split at carriage returns)."""

    def __init__(self, cluster: str, workers_args: list[str], *args: str):
        env = {**os.environ, LOCAL_ONLY: "0", "PYTHONDONTWRITEBYTECODE": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "st2v_modules.distributed", *args, "--address", cluster, *workers_args],
                                        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines += [part for part in re.split(r"[\r\n]", line) if part.strip()]

    def wait_for_line(self, pattern: str) -> re.Match:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.1)
        pytest.fail(f"no line like {pattern!r}:\n" + "\n".join(self.lines[-40:]))

    def finish(self) -> tuple[int, str, str]:
        """The exit status, stdout (the table) and stderr. stdout is read here while the reader thread keeps stderr:
        communicate() would read stderr too and take the last lines from the thread."""
        stdout = self.process.stdout.read()  # until the command exits; the table is small
        self.process.wait(timeout=RUN_TIMEOUT_S)
        self.reader.join(timeout=10)
        return self.process.returncode, stdout, "\n".join(self.lines)


def write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def manifests(folder: str) -> list[dict]:
    return [json.load(open(os.path.join(folder, f))) for f in sorted(os.listdir(folder)) if f.endswith("_.json")]


def table_rows(table: str) -> list[str]:
    """The summary table's three item rows (Ray may print a line of its own before the table)."""
    lines = table.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["#", "status"])
    return lines[header + 1:header + 4]


def png_sequence(folder: str):
    import numpy as np
    from PIL import Image
    (sequence,) = [f for f in os.listdir(folder) if os.path.isdir(os.path.join(folder, f)) and ".partial" not in f]
    names = sorted(os.listdir(os.path.join(folder, sequence)))
    return np.stack([np.asarray(Image.open(os.path.join(folder, sequence, n))) for n in names])


def test_a_killed_worker_loses_no_video_the_item_goes_on_from_chunk_1(cluster, workers_args, tmp_path):
    """3 prompts on 2 workers; item 1's worker is killed after its first chunk. All 3 videos complete, item 1's from
    the manifest of the killed run on, with the frames of an uninterrupted run (item 3: the same prompt and seed)."""
    workflow = write(tmp_path / "extend.json", json.dumps(first_chunk_and_extend(frames_to_add=24, steps=1, video_format=PNG)))
    prompts = write(tmp_path / "prompts.jsonl", "\n".join(json.dumps(p) for p in [
        {"prompt": "a heron fishing", "seed": 5}, {"prompt": "a red kite over dunes", "seed": 6},
        {"prompt": "a heron fishing", "seed": 5}]))
    output = tmp_path / "out"
    command = Command(cluster, workers_args, workflow, prompts, "--workers", "2", "--output", str(output), "--name", "killed")
    pid = int(command.wait_for_line(r"item 1 \(a heron fishing\) video -> worker \d \(pid (\d+) ").group(1))
    item_1 = output / "killed" / "001"
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not (item_1.is_dir() and any(m["chunk_log"] for m in manifests(str(item_1)))):
        assert time.monotonic() < deadline and command.process.poll() is None, "\n".join(command.lines[-40:])
        time.sleep(0.05)
    os.killpg(pid, signal.SIGSTOP)  # frozen: the manifest cannot move on while we look
    assert [len(m["chunk_log"]) for m in manifests(str(item_1))] == [1]
    os.killpg(pid, signal.SIGKILL)  # the actor and its ComfyUI, as when the machine goes
    status, table, log = command.finish()
    assert status == 0, table + log
    assert re.search(r"item 1 video: worker \d \(pid \d+ .*\) was lost \(.*\); the next free worker takes it over, going on "
                     r"from its manifest", log), log
    assert "item 1 went on from chunk 1 of killed/001/stv_extend_00001_.json" in log, log
    rows = [line.split() for line in table_rows(table)]
    assert [(r[0], r[1], r[3]) for r in rows] == [("1", "done", "1"), ("2", "done", "0"), ("3", "done", "0")], table
    first, resumed = manifests(str(item_1))
    assert first["status"] == "running" and len(first["chunk_log"]) == 1  # as the kill left it
    assert resumed["status"] == "complete" and resumed["chunk_offset"] == 1 and resumed["resumed_from"] == "killed/001/stv_extend_00001_.json"
    assert [c["chunk"] for c in resumed["chunk_log"]] == [1, 2]
    frames, uninterrupted = png_sequence(str(item_1)), png_sequence(str(output / "killed" / "003"))
    assert frames.shape == (40, 48, 64, 3) and (frames == uninterrupted).all()
    assert not alive(processes_mentioning(str(output)))  # no ComfyUI left behind


def test_a_second_pool_enhances_in_two_segments_while_the_first_extends_and_a_bad_item_fails_alone(cluster, workers_args, tmp_path):
    """2 prompts and one naming a checkpoint that is not there; one worker extends, the other enhances each video in
    2 segments (then stitches them) while the first extends the next; the videos also come back as bytes."""
    workflow = write(tmp_path / "enhanced.json", json.dumps(extend_and_enhance(frames_to_add=24, steps=1)))
    prompts = write(tmp_path / "prompts.jsonl", "\n".join(json.dumps(p) for p in [
        {"prompt": "a heron fishing", "seed": 5},
        {"prompt": "a lighthouse at night", "set": {"STV_LoadStreamingT2V.ckpt_name": "missing.ckpt"}},
        {"prompt": "a red kite over dunes", "seed": 6, "frames": 40}]))
    output, fetched = tmp_path / "out", tmp_path / "fetched"
    status, table, log = Command(cluster, workers_args, workflow, prompts, "--workers", "1", "--enhance-on", "1",
                                 "--enhance-segments", "2", "--output", str(output), "--name", "piped",
                                 "--fetch", str(fetched)).finish()
    assert status == 1, table + log  # one item failed
    rows = {line.split()[0]: line for line in table_rows(table)}
    assert "done" in rows["1"] and "done" in rows["3"] and "failed" in rows["2"], table
    assert "item 2 (a lighthouse at night): " in table and "missing.ckpt" in table  # ComfyUI's refusal, in full
    handed = re.search(r"item 1 \(.*?\) segment 1 -> enhancer", log)
    assert handed and handed.start() < log.index("item 3 extend done"), log  # enhanced while the next extends
    for item in ("001", "003"):
        folder = output / "piped" / item
        (extended,) = [f for f in os.listdir(folder) if f.startswith("stv_extend_") and f.endswith(".mp4")]
        (enhanced,) = [f for f in os.listdir(folder) if f.startswith("stv_enhanced_")]
        assert video_frames(str(folder / extended)) == (40, 64, 48)
        assert video_frames(str(folder / enhanced)) == (40, 128, 80)  # 2 chunks of 24 sharing 8: nothing trimmed
        assert not [f for f in os.listdir(folder) if "segment" in f]  # the segments' PNGs are gone once stitched
        assert os.path.join(str(folder), enhanced) in rows[item.lstrip("0")]
        for name in (extended, enhanced):  # and back through Ray's object store
            assert (fetched / "piped" / item / name).read_bytes() == (folder / name).read_bytes()
