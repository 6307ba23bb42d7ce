"""A worker: a Ray actor that owns one GPU (its CUDA_VISIBLE_DEVICES, set by Ray, is inherited by ComfyUI) and runs a
headless ComfyUI with the pack on it, started and driven through the headless runner. It runs one stage of one item
at a time, resuming an extension from the newest manifest its output folder holds for the item."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import ray
import torch
from PIL import Image

from ..headless.overrides import title
from ..headless.runner import Overrides, output_directory, run
from ..headless.server import HeadlessComfyUI
from ..sampling.chunks import NEW_FRAMES_PER_CHUNK
from ..video_files.writer import VideoWriter
from . import stages
from .segments import Segment, stitched

VIDEO, EXTEND, ENHANCE, SEGMENT, STITCH = "video", "extend", "enhance", "segment", "stitch"
COMPLETE = "complete"  # the manifest status of a finished extension
STITCH_BATCH = 8  # frames handed to the video writer at once
SERVER_EXIT_WAIT_S = 5


class WorkerLost(RuntimeError):
    """The worker's ComfyUI exited while it ran a stage: the worker is replaced and the stage runs again."""


@dataclass(frozen=True)
class WorkerConfig:
    comfyui: str
    args: tuple[str, ...] = ()
    """Extra main.py arguments (`--cpu` is added when the worker has no GPU)."""
    models: str | None = None
    """A models folder at this path on every node, added to each ComfyUI's model paths."""
    output: str | None = None
    """The output folder of every worker (shared between nodes for resumes on another node); default ComfyUI's."""
    fetch: bool = False
    """Return the bytes of the files saved, so they reach the driver and the next stage through Ray's object store."""


@dataclass(frozen=True)
class Task:
    item: int
    stage: str
    prompt: dict
    extend: str | None = None
    """The extension node: its manifest is where a resume starts."""
    attempt: int = 0
    timeout_s: float | None = None
    label: str = ""
    """How the progress bars name the stage (default: the stage)."""


@dataclass(frozen=True)
class Stitch:
    item: int
    segments: tuple[Segment, ...]
    frames: int
    prefix: str
    """The enhancer's filename_prefix: the stitched video is named like the file the enhancer writes."""
    video_format: str
    fps: float


@dataclass
class Outcome:
    item: int
    stage: str
    worker: str
    seconds: float
    files: list[str] = field(default_factory=list)
    """What the stage saved, relative to the output folder."""
    video: str | None = None
    """The stage's video (the extension's, a segment's PNG folder, the stitched one), relative to the output folder."""
    frames: int | None = None
    resumed_from: str | None = None
    """The manifest an extension went on from, and the chunk it went on from."""
    resumed_chunk: int | None = None
    output: str = ""
    """The worker's output folder."""
    contents: dict[str, bytes] = field(default_factory=dict)
    """With fetch: the saved files' bytes by relative path."""


class Worker:
    def __init__(self, name: str, config: WorkerConfig, board):
        self.name, self.config, self.board = name, config, board
        self.gpus = [str(g) for g in ray.get_gpu_ids()]
        self.scratch = tempfile.mkdtemp(prefix="stv_worker_")
        args = list(config.args)
        if not self.gpus and "--cpu" not in args:
            args.append("--cpu")
        if config.output:
            args += ["--output-directory", config.output]
        if config.models:
            args += ["--extra-model-paths-config", models_config(config.models, self.scratch)]
        if "--temp-directory" not in args:
            args += ["--temp-directory", self.scratch]
        self.server = HeadlessComfyUI(config.comfyui, args).__enter__()
        self.output = output_directory(self.server.argv, self.server.comfyui)
        self.output_classes: set[str] | None = None

    def describe(self) -> str:
        gpus = f"GPU {','.join(self.gpus)}" if self.gpus else "CPU"
        return f"{self.name} (pid {os.getpid()} on {ray.util.get_node_ip_address()}, {gpus})"

    async def object_info(self) -> dict:
        async with aiohttp.ClientSession() as session, session.get(self.server.url + "/object_info") as response:
            response.raise_for_status()
            info = await response.json()
        self.output_classes = {name for name, spec in info.items() if spec.get("output_node")}
        return info

    async def interrupt(self) -> None:
        async with aiohttp.ClientSession() as session:
            for path, body in (("/queue", {"clear": True}), ("/interrupt", {})):
                async with session.post(self.server.url + path, json=body) as response:
                    response.raise_for_status()

    async def run(self, task: Task, given: Outcome | None = None) -> Outcome:
        """Run the stage (with `given`, the earlier stage whose video it reads); an extension goes on from the newest
        manifest of its prefix. Raises WorkerLost when ComfyUI died meanwhile, else the runner's errors."""
        started = time.monotonic()
        if self.output_classes is None:
            await self.object_info()
        prompt, outcome = task.prompt, Outcome(task.item, task.stage, self.describe(), 0.0, output=self.output)
        if given is not None:
            self.receive(given)
            prompt = stages.video_file(prompt, given.video, os.path.join(self.output, given.video))
        if task.extend is not None:
            prompt = self.continued(prompt, task, outcome)
        if prompt is not None:
            try:
                report = await run(prompt, self.server.url, Overrides(), self.server.argv, self.server.comfyui,
                                   task.timeout_s, events=self.progress(task), echo=lambda line: None)
            except Exception:
                if self.server_exited():
                    raise WorkerLost(f"{self.name}'s ComfyUI exited with status {self.server.process.returncode} while it "
                                     f"ran item {task.item + 1} ({task.stage}); its log ends:\n{self.server.log_tail()[-1500:]}") from None
                await self.interrupt()  # a stage given up on (--timeout) must not hold the server
                raise
            outcome.files = [self.relative(p) for p in report.files]
        if task.extend is not None:
            newest = newest_manifest(self.output, task.prompt[task.extend]["inputs"]["filename_prefix"])
            if newest is not None:
                path, manifest = newest
                outcome.video = self.relative(os.path.join(os.path.dirname(path), manifest["video"]))
                outcome.frames = manifest["start_frames"] + manifest["frames_to_add"]
        elif task.stage in (ENHANCE, SEGMENT):
            outcome.video = self.relative(newest_output(self.output, task.prompt[stages.enhance_node(task.prompt)]["inputs"]["filename_prefix"]))
        outcome.seconds = time.monotonic() - started
        outcome.contents = self.contents(outcome.files + ([outcome.video] if outcome.video else []))
        return outcome

    def continued(self, prompt: dict, task: Task, outcome: Outcome) -> dict | None:
        """The prompt that goes on from the item's newest manifest (None when its extension is already complete and
        the stage has nothing else to do), or the prompt itself when there is nothing to go on from."""
        extend = task.extend
        newest = newest_manifest(self.output, prompt[extend]["inputs"]["filename_prefix"])
        if newest is None:
            return prompt
        path, manifest = newest
        done = len(manifest.get("chunk_log", []))
        remaining = manifest["frames_to_add"] - NEW_FRAMES_PER_CHUNK * done
        if manifest.get("status") == COMPLETE or (done and remaining <= 0):
            if task.stage == EXTEND:
                return None
            video = self.relative(os.path.join(os.path.dirname(path), manifest["video"]))
            return stages.video_file(stages.fed_by_video(prompt, extend), video, os.path.join(self.output, video))
        if not done:
            return prompt
        outcome.resumed_from = self.relative(path)
        outcome.resumed_chunk = manifest.get("chunk_offset", 0) + done
        return stages.resumed(prompt, extend, outcome.resumed_from, remaining, self.output_classes or set())

    def stitch(self, job: Stitch, *segments: Outcome) -> Outcome:
        """Join the segments' PNG frames into the item's enhanced video, then delete them."""
        started = time.monotonic()
        for segment in segments:
            self.receive(segment)
        folders = [os.path.join(self.output, s.video) for s in segments]
        sequences = [sorted(os.path.join(f, n) for n in os.listdir(f) if n.endswith(".png")) for f in folders]
        base = next_free_base(self.output, job.prefix)
        writer = VideoWriter(base, job.video_format, job.fps)
        batch = []
        try:
            for frame in stitched(list(job.segments), lambda k, f: read_png(sequences[k][f - job.segments[k].context[0]]), job.frames):
                batch.append(frame)
                if len(batch) == STITCH_BATCH:
                    writer.write(torch.stack(batch))
                    batch = []
            if batch:
                writer.write(torch.stack(batch))
        except BaseException:
            writer.close()
            raise
        video = self.relative(writer.finish())
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return Outcome(job.item, STITCH, self.describe(), time.monotonic() - started, files=[video], video=video,
                       frames=job.frames, output=self.output, contents=self.contents([video]))

    def stop(self) -> None:
        self.server.__exit__(None, None, None)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def progress(self, task: Task):
        """The server's events as (node, value, max) updates on the board; the node is named by its title."""
        state, stage = {"node": ""}, task.label or task.stage

        def on_event(kind: str, data: dict) -> None:
            if kind == "executing" and data.get("node") is not None:
                node = str(data["node"])
                state["node"] = title(task.prompt, node) if node in task.prompt else node
                self.board.update.remote(task.item, stage, state["node"], 0, 0)
            elif kind == "progress":
                self.board.update.remote(task.item, stage, state["node"], data["value"], data["max"])
        return on_event

    def server_exited(self) -> bool:
        try:
            self.server.process.wait(timeout=SERVER_EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            return False
        return True

    def relative(self, path: str) -> str:
        return os.path.relpath(path, self.output).replace(os.sep, "/")

    def contents(self, paths: list[str]) -> dict[str, bytes]:
        if not self.config.fetch:
            return {}
        found = {}
        for relative in paths:
            path = os.path.join(self.output, relative)
            files = [os.path.join(root, n) for root, _, names in os.walk(path) for n in names] if os.path.isdir(path) else [path]
            for file in files:
                with open(file, "rb") as f:
                    found[self.relative(file)] = f.read()
        return found

    def receive(self, outcome: Outcome) -> None:
        """Write the files an earlier stage sent that this worker's disk lacks (its disk is not the one they were made on)."""
        for relative, data in outcome.contents.items():
            path = os.path.join(self.output, relative)
            if not os.path.exists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)


def models_config(models: str, folder: str) -> str:
    """An extra_model_paths.yaml that adds every sub-folder of `models` under its own name (JSON strings are YAML)."""
    names = sorted(d for d in os.listdir(models) if os.path.isdir(os.path.join(models, d)))
    path = os.path.join(folder, "extra_model_paths.yaml")
    with open(path, "w") as f:
        f.write("shared_models:\n" + f"    base_path: {json.dumps(os.path.abspath(models))}\n" +
                "".join(f"    {json.dumps(n)}: {json.dumps(n)}\n" for n in names))
    return path


def numbered(output: str, prefix: str) -> list[tuple[int, str]]:
    """(counter, path) of what ComfyUI saved as `<prefix>_NNNNN_...` under the output folder."""
    folder, name = os.path.split(os.path.join(output, prefix))
    pattern = re.compile(re.escape(name) + r"_(\d{5})_")
    if not os.path.isdir(folder):
        return []
    return sorted((int(m.group(1)), os.path.join(folder, f)) for f in os.listdir(folder) if (m := pattern.match(f)))


def newest_manifest(output: str, prefix: str) -> tuple[str, dict] | None:
    """The newest extension manifest saved under `prefix`, read; None when there is none (or it is unreadable)."""
    for _, path in reversed(numbered(output, prefix)):
        if path.endswith("_.json"):
            try:
                with open(path, encoding="utf-8") as f:
                    return path, json.load(f)
            except (OSError, ValueError):
                return None
    return None


def newest_output(output: str, prefix: str) -> str:
    """The newest finished video (an mp4 or a PNG folder) saved under `prefix`."""
    finished = [p for _, p in numbered(output, prefix) if ".partial" not in os.path.basename(p) and (p.endswith(".mp4") or os.path.isdir(p))]
    if not finished:
        raise FileNotFoundError(f"nothing was saved under {prefix!r} in {output}")
    return finished[-1]


def next_free_base(output: str, prefix: str) -> str:
    """`<prefix>_NNNNN_` with the next counter, as ComfyUI numbers what it saves."""
    taken = numbered(output, prefix)
    base = os.path.join(output, f"{prefix}_{(taken[-1][0] + 1 if taken else 1):05}_")
    os.makedirs(os.path.dirname(base), exist_ok=True)
    return base


def read_png(path: str) -> torch.Tensor:
    """One frame of a PNG sequence, `[H, W, 3]` in 0..1."""
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).float() / 255
