"""A prompt list on a Ray cluster. Each item's stages go to the first free worker of their pool (the extension, or
the whole workflow, on the first; with a second pool the enhancement there, whole or in segments, then the stitching);
a stage's result is handed to the next stage as a Ray object. The driver only waits (ray.wait) on what the cluster
reports: a stage finished, a worker started, progress changed. A worker lost under a stage is replaced and the stage
goes to the next free worker, an extension going on from its manifest; a stage that fails for its own reason fails
its item alone, with ComfyUI's message."""
from __future__ import annotations

import copy
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import ray
from ray.exceptions import NodeDiedError, OutOfMemoryError, RayActorError, RayTaskError, WorkerCrashedError

from ..headless.runner import apply_overrides, to_api
from ..sampling.blending import PAD_FRAMES, BlendPlan, enhanced_length
from . import stages
from .items import Item
from .progress import Board, Display
from .segments import split
from .worker import ENHANCE, EXTEND, SEGMENT, STITCH, VIDEO, Outcome, Stitch, Task, Worker, WorkerConfig, WorkerLost

WAITING, DONE, FAILED = "waiting", "done", "failed"
LOST = (WorkerLost, RayActorError, WorkerCrashedError, OutOfMemoryError, NodeDiedError)  # the worker, not the item
STOP_TIMEOUT_S = 60
WorkerActor = ray.remote(Worker)
BoardActor = ray.remote(num_cpus=0)(Board)


@dataclass(frozen=True)
class Options:
    workflow: dict
    """As loaded: the browser's format (converted with a worker's node definitions) or the API format."""
    items: list[Item]
    worker: WorkerConfig
    workers: int
    enhance_workers: int = 0
    """A second pool that enhances each video while the first pool extends the next one."""
    segments: int = 1
    """Each enhancement split over this many workers of the second pool."""
    gpus: float = 1
    """GPUs per worker (0: ComfyUI on the CPU)."""
    folder: str = "distributed"
    """Every item's files go to `<folder>/<item number>/` under the output folder."""
    sets: tuple[str, ...] = ()
    retries: int = 2
    """How often a stage may lose its worker before its item is given up."""
    timeout_s: float | None = None


@dataclass
class Report:
    item: Item
    status: str = WAITING
    message: str = ""
    outcomes: list[Outcome] = field(default_factory=list)
    lost: int = 0
    """Workers lost under this item's stages."""
    enhancement: dict | None = None
    stitch: Stitch | None = None
    segments: dict[int, ray.ObjectRef] = field(default_factory=dict)

    def results(self) -> list[tuple[Outcome, str]]:
        """The item's videos (the outcome that made each, its path under the output folder): the extension's, and
        what the last stage saved."""
        found = [(o, o.video) for o in self.outcomes if o.stage in (VIDEO, EXTEND) and o.video][-1:]
        if self.outcomes:
            last = self.outcomes[-1]
            found += [(last, f) for f in last.files + ([last.video] if last.video else [])]
        return list({path: (outcome, path) for outcome, path in found}.values())

    @property
    def files(self) -> list[str]:
        """The item's videos as the workers see them."""
        return [os.path.join(outcome.output, path) for outcome, path in self.results()]


@dataclass(frozen=True)
class Work:
    item: int
    label: str
    """The stage as the progress bars name it (extend, enhance, segment 2, ...)."""
    submit: Callable
    """(worker handle, attempt) -> the ObjectRef of its result."""
    part: int = 0
    """Which segment."""
    attempt: int = 0


@dataclass(eq=False)
class Member:
    handle: object
    name: str


class Pool:
    """Workers of one kind, each running one stage at a time; a lost one is replaced."""

    def __init__(self, name: str, size: int, options: Options, board):
        self.name, self.options, self.board = name, options, board
        self.queue: deque[Work] = deque()
        self.idle: list[Member] = []
        self.busy: list[Member] = []
        self.booting: dict[ray.ObjectRef, Member] = {}
        self.started, self.boot_error = 0, ""
        for _ in range(size):
            self.start()

    def start(self) -> None:
        name = f"{self.name} {self.started}"
        self.started += 1
        handle = WorkerActor.options(num_cpus=1, num_gpus=self.options.gpus, max_restarts=0).remote(name, self.options.worker, self.board)
        self.booting[handle.describe.remote()] = Member(handle, name)

    def replace(self, member: Member) -> None:
        self.busy.remove(member)
        ray.kill(member.handle, no_restart=True)
        self.start()

    @property
    def alive(self) -> bool:
        return bool(self.idle or self.busy or self.booting)


class Job:
    def __init__(self, options: Options, display: Display):
        self.options, self.display = options, display
        self.reports = [Report(item) for item in options.items]
        self.board = BoardActor.remote()
        self.main = Pool("worker", options.workers, options, self.board)
        self.enhancers = Pool("enhancer", options.enhance_workers, options, self.board) if options.enhance_workers else None
        self.pools = [p for p in (self.main, self.enhancers) if p is not None]
        self.running: dict[ray.ObjectRef, tuple[Work, Pool, Member]] = {}
        self.changes = self.board.changes.remote()

    def run(self) -> list[Report]:
        try:
            self.plan(self.node_definitions())
            while any(r.status == WAITING for r in self.reports):
                self.dispatch()
                self.wait()
        finally:
            self.stop()
        return self.reports

    def node_definitions(self) -> dict:
        """/object_info of the first worker that starts (the workflow is converted and checked against it)."""
        while not self.main.idle:
            if not self.main.booting:
                raise RuntimeError(f"no worker could start: {self.main.boot_error}")
            (ready,), _ = ray.wait(list(self.main.booting), num_returns=1)
            self.booted(self.main, ready)
        return ray.get(self.main.idle[0].handle.object_info.remote())

    def plan(self, object_info: dict) -> None:
        """Every item's first stage, queued; an item whose overrides or stages do not fit the workflow fails now."""
        api = to_api(self.options.workflow, object_info)
        output_classes = {name for name, spec in object_info.items() if spec.get("output_node")}
        for report in self.reports:
            item = report.item
            try:
                prompt = copy.deepcopy(api)
                apply_overrides(prompt, item.overrides(self.options.sets))
                prompt = stages.in_folder(prompt, f"{self.options.folder}/{item.index + 1:03d}")
                extend = stages.extend_node(prompt)
                if self.enhancers is None:
                    self.queue(self.main, item.index, VIDEO, Task(item.index, VIDEO, prompt, extend, timeout_s=self.options.timeout_s))
                    continue
                enhance = stages.enhance_node(prompt)
                if extend is None or enhance is None:
                    raise stages.StageError("--enhance-on needs a workflow with StreamingT2V Extend and StreamingT2V Enhance.")
                report.enhancement = stages.enhancement_stage(prompt, extend, enhance, output_classes)
                extension, changes = stages.extension_stage(prompt, extend, enhance)
                for change in changes:
                    self.display.log(f"item {item.index + 1}: {change}")
                self.queue(self.main, item.index, EXTEND, Task(item.index, EXTEND, extension, extend, timeout_s=self.options.timeout_s))
            except ValueError as error:  # OverrideError, ConversionError, StageError
                self.fail(report, str(error))

    def queue(self, pool: Pool, item: int, label: str, task: Task | Stitch, *given: ray.ObjectRef, part: int = 0) -> None:
        def submit(handle, attempt: int):
            if isinstance(task, Stitch):
                return handle.stitch.remote(task, *given)
            return handle.run.remote(replace(task, attempt=attempt), *given)
        pool.queue.append(Work(item, label, submit, part))

    def dispatch(self) -> None:
        for pool in self.pools:
            while pool.idle and pool.queue:
                work = pool.queue.popleft()
                if self.reports[work.item].status != WAITING:
                    continue
                member = pool.idle.pop(0)
                pool.busy.append(member)
                self.running[work.submit(member.handle, work.attempt)] = (work, pool, member)
                self.display.log(f"item {work.item + 1} ({self.reports[work.item].item.label}) {work.label} -> {member.name}")
            if not pool.alive and pool.queue:
                for work in pool.queue:
                    self.fail(self.reports[work.item], f"no {pool.name} is left: {pool.boot_error}")
                pool.queue.clear()

    def wait(self) -> None:
        booting = {ref: pool for pool in self.pools for ref in pool.booting}
        (ready,), _ = ray.wait([*self.running, *booting, self.changes], num_returns=1)
        if ready == self.changes:
            self.display.show(ray.get(ready))
            self.changes = self.board.changes.remote()
        elif ready in booting:
            self.booted(booting[ready], ready)
        else:
            self.finished(ready)

    def booted(self, pool: Pool, ref: ray.ObjectRef) -> None:
        member = pool.booting.pop(ref)
        try:
            member.name = ray.get(ref)
        except Exception as error:
            pool.boot_error = message(error)
            self.display.log(f"{member.name} could not start: {pool.boot_error}")
            ray.kill(member.handle, no_restart=True)
            return
        pool.idle.append(member)
        self.display.log(f"{member.name} is ready")

    def finished(self, ref: ray.ObjectRef) -> None:
        work, pool, member = self.running.pop(ref)
        self.display.stage_done((work.item, work.label))
        report = self.reports[work.item]
        try:
            outcome = ray.get(ref)
        except Exception as error:
            if isinstance(error, LOST):
                self.lost(work, pool, member, report, error)
            else:
                pool.busy.remove(member)
                pool.idle.append(member)
                self.fail(report, message(error))
            return
        pool.busy.remove(member)
        pool.idle.append(member)
        if report.status != WAITING:
            return
        report.outcomes.append(outcome)
        self.display.log(f"item {work.item + 1} {work.label} done on {member.name} ({outcome.seconds:.0f} s)")
        if outcome.stage == EXTEND:
            self.enhance(report, outcome, ref)
        elif outcome.stage == SEGMENT:
            report.segments[work.part] = ref
            if len(report.segments) == len(report.stitch.segments):
                self.queue(self.enhancers, work.item, STITCH, report.stitch, *(report.segments[k] for k in sorted(report.segments)))
        else:
            if outcome.resumed_from:
                self.display.log(f"item {work.item + 1} went on from chunk {outcome.resumed_chunk} of {outcome.resumed_from}")
            report.status = DONE
            self.display.item_done()

    def lost(self, work: Work, pool: Pool, member: Member, report: Report, error: Exception) -> None:
        pool.replace(member)
        report.lost += 1
        first_line = message(error).splitlines()[0]
        if work.attempt >= self.options.retries:
            self.fail(report, f"{work.label}: {work.attempt + 1} workers were lost under it; the last: {first_line}")
            return
        pool.queue.appendleft(replace(work, attempt=work.attempt + 1))
        self.display.log(f"item {work.item + 1} {work.label}: {member.name} was lost ({first_line}); the next free "
                         f"{pool.name} takes it over" + (", going on from its manifest" if work.label in (VIDEO, EXTEND) else ""))

    def enhance(self, report: Report, extension: Outcome, ref: ray.ObjectRef) -> None:
        """Queue the enhancement of an extended video on the second pool: whole, or in segments then stitched."""
        item, prompt = report.item.index, report.enhancement
        if self.options.segments == 1:
            self.queue(self.enhancers, item, ENHANCE, Task(item, ENHANCE, prompt, timeout_s=self.options.timeout_s), ref)
            return
        enhance = stages.enhance_node(prompt)
        try:
            setting = {name: stages.enhance_setting(prompt, enhance, name) for name in
                       ("chunk_frames", "overlap_frames", "length", "filename_prefix", "video_format", "fps")}
            pad = setting["length"] == PAD_FRAMES
            plan = BlendPlan(enhanced_length(extension.frames, pad, setting["chunk_frames"], setting["overlap_frames"]),
                             setting["chunk_frames"], setting["overlap_frames"])
            segments = split(plan, min(self.options.segments, len(plan.starts)))
        except ValueError as error:
            self.fail(report, str(error))
            return
        name = os.path.basename(setting["filename_prefix"])
        report.stitch = Stitch(item, tuple(segments), min(plan.frames, extension.frames), setting["filename_prefix"],
                               setting["video_format"], setting["fps"])
        for k, segment in enumerate(segments):
            label = f"{SEGMENT} {k + 1}"
            task = Task(item, SEGMENT, stages.segment_stage(prompt, enhance, segment.context, f"{name}_segment{k + 1}"),
                        label=label, timeout_s=self.options.timeout_s)
            self.queue(self.enhancers, item, label, task, ref, part=k)

    def fail(self, report: Report, text: str) -> None:
        if report.status == WAITING:
            report.status, report.message = FAILED, text
            self.display.item_done()
            self.display.log(f"item {report.item.index + 1} failed: {text}")

    def stop(self) -> None:
        """Stop every worker's ComfyUI, then the actors."""
        members = [m for pool in self.pools for m in pool.idle + pool.busy]
        stopping = [m.handle.stop.remote() for m in members]
        ray.wait(stopping, num_returns=len(stopping), timeout=STOP_TIMEOUT_S)
        for member in members + [m for pool in self.pools for m in pool.booting.values()]:
            ray.kill(member.handle, no_restart=True)
        ray.kill(self.board, no_restart=True)


def message(error: BaseException) -> str:
    """The worker's own error, without Ray's wrapping."""
    cause = error.cause if isinstance(error, RayTaskError) and error.cause is not None else error
    return str(cause).strip() or type(cause).__name__


def summary(reports: list[Report]) -> str:
    """One row per item, then the message of each failed one."""
    rows = [("#", "status", "work s", "lost workers", "prompt", "output")]  # work: the stages' seconds, added up
    for r in reports:
        seconds = f"{sum(o.seconds for o in r.outcomes):.0f}"
        output = ", ".join(r.files) if r.status == DONE else r.message.splitlines()[0] if r.message else ""
        rows.append((str(r.item.index + 1), r.status, seconds, str(r.lost), r.item.label, output))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    failed = [r for r in reports if r.status == FAILED]
    if failed:
        lines += ["", *[f"item {r.item.index + 1} ({r.item.label}): {r.message}" for r in failed]]
    return "\n".join(lines)
