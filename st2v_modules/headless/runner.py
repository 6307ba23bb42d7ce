"""One workflow run on a ComfyUI server: the workflow found and converted, overrides applied, progress followed,
and what it saved collected. The command line (`python -m st2v_modules.run_workflow`) and the distributed runs
both go through `run`."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from tqdm import tqdm

from .client import ComfyClient, Events, RunResult, ServerClosed, WorkflowFailed
from .conversion import check_workflow, ui_to_api
from .overrides import apply_aliases, apply_set, title

WORKFLOWS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "workflows")
DEFAULT_URL = "http://127.0.0.1:8188"


class UsageError(Exception):
    """Something to fix before the workflow can reach ComfyUI."""


@dataclass(frozen=True)
class Overrides:
    """What the command line changes: `--prompt`, `--negative`, `--seed`, `--frames` and `--set node.input=value`."""
    prompt: str | None = None
    negative: str | None = None
    seed: int | None = None
    frames: int | None = None
    sets: tuple[str, ...] = ()


@dataclass
class RunReport:
    prompt: dict
    changes: list[str]
    result: RunResult
    files: list[str] = field(default_factory=list)
    """Every file the output nodes saved (videos, images), as paths."""
    texts: list[str] = field(default_factory=list)
    """What text-showing nodes displayed, file paths aside."""


def find_workflow(name: str) -> str:
    """A path, or a workflow shipped in workflows/ given by its name (with or without .json)."""
    if os.path.isfile(name):
        return name
    shipped = os.path.join(WORKFLOWS_DIR, name if name.endswith(".json") else name + ".json")
    if os.path.isfile(shipped):
        return shipped
    names = sorted(f[:-5] for f in os.listdir(WORKFLOWS_DIR) if f.endswith(".json")) if os.path.isdir(WORKFLOWS_DIR) else []
    raise UsageError(f"no workflow file {name!r}; the shipped ones are: {', '.join(names) or 'none'}")


def is_ui_format(workflow: dict) -> bool:
    return isinstance(workflow.get("nodes"), list) and "links" in workflow


def to_api(workflow: dict, object_info: dict) -> dict:
    """The API prompt (titles kept in `_meta`, so `--set` can name nodes by title)."""
    return ui_to_api(workflow, object_info) if is_ui_format(workflow) else workflow


def apply_overrides(prompt: dict, overrides: Overrides) -> list[str]:
    """Change the prompt in place; returns one line per input changed."""
    changes = apply_aliases(prompt, overrides.prompt, overrides.negative, overrides.seed, overrides.frames)
    for assignment in overrides.sets:
        apply_set(prompt, assignment, changes)
    return changes


def output_directory(argv: list[str], cwd: str | None) -> str | None:
    """The server's output folder, from its command line (main.py's --output-directory / --base-directory)."""
    def option(flag: str) -> str | None:
        return argv[argv.index(flag) + 1] if flag in argv[:-1] else None
    root = cwd or (os.path.dirname(argv[0]) if argv and os.path.isabs(argv[0]) else None)
    for flag, sub in (("--output-directory", ""), ("--base-directory", "output")):
        value = option(flag)
        if value is not None:
            return os.path.join(value if os.path.isabs(value) or root is None else os.path.join(root, value), sub).rstrip(os.sep)
    return os.path.join(root, "output") if root else None


def is_path_text(text: str) -> bool:
    """A node that shows a file's path (e.g. Preview Any on StreamingT2V Extend's video_path)."""
    return "\n" not in text.strip() and os.path.isabs(text.strip())


def saved_files(result: RunResult, output_dir: str | None) -> list[str]:
    """Every file the output nodes report, as a path (relative to the server's output folder when it is unknown)."""
    paths = []
    for node_output in result.outputs.values():
        for key, items in node_output.items():
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and "filename" in item and item.get("type", "output") == "output":
                    relative = os.path.join(item.get("subfolder", ""), item["filename"])
                    paths.append(os.path.join(output_dir, relative) if output_dir else os.path.join("output", relative))
                elif key == "text" and isinstance(item, str) and is_path_text(item):
                    paths.append(item.strip())
    return paths


def shown_texts(result: RunResult, prompt: dict) -> list[str]:
    """What text-showing nodes display, paths aside (those are listed with the files)."""
    return [f"{node_id} ({title(prompt, node_id) if node_id in prompt else '?'}): {text}"
            for node_id, node_output in result.outputs.items() for text in node_output.get("text", [])
            if not is_path_text(text)]


class RunProgress:
    """One tqdm bar per running node, fed by the server's events."""

    def __init__(self, prompt: dict):
        self.prompt, self.bar = prompt, None

    def __call__(self, kind: str, data: dict) -> None:
        if kind == "executing" and data.get("node") is not None:
            self.close()
            node = str(data["node"])
            label = f"node {node} ({title(self.prompt, node) if node in self.prompt else node})"
            self.bar = tqdm(desc=label, file=sys.stderr, leave=True)
        elif kind == "progress" and self.bar is not None:
            if self.bar.total != data["max"]:
                self.bar.reset(data["max"])
            self.bar.update(data["value"] - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


async def run(workflow: dict, url: str, overrides: Overrides = Overrides(), server_argv: list[str] | None = None,
              cwd: str | None = None, timeout_s: float | None = None, events: Events | None = None,
              echo: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> RunReport:
    """Convert, override and run `workflow` on the ComfyUI at `url`; raises WorkflowFailed with the host's message.

    `server_argv` and `cwd` (main.py's command line and folder) locate the output folder; without them the server is
    asked. `events` receives the server's events (default: a progress bar per node on stderr); `echo` each change
    the overrides made, before the run starts. When the server goes away mid-run, the ServerClosed error lists what
    was saved so far."""
    check_workflow(workflow)
    async with aiohttp.ClientSession() as session:
        client = ComfyClient(url, session)
        try:
            object_info = await client.get("/object_info")
            argv = server_argv if server_argv is not None else (await client.get("/system_stats"))["system"]["argv"]
        except (aiohttp.ClientError, OSError) as error:
            raise UsageError(f"cannot reach ComfyUI at {url} ({error}); start it, or pass --comfyui PATH to start one") from None
        prompt = to_api(workflow, object_info)
        changes = apply_overrides(prompt, overrides)
        for change in changes:
            echo(f"set {change}")
        progress = RunProgress(prompt) if events is None else None
        finished: dict[str, dict] = {}  # output nodes' results as they come, for a run that never ends

        def relay(kind: str, data: dict) -> None:
            if kind == "executed" and isinstance(data.get("output"), dict):
                finished[str(data.get("node"))] = data["output"]
            (events or progress)(kind, data)

        started = time.time() - 2  # file systems with coarse timestamps (FAT: 2 s)
        try:
            result = await client.run(prompt, relay, timeout_s)
        except asyncio.TimeoutError:
            raise WorkflowFailed(f"the workflow did not finish within {timeout_s} s") from None
        except ServerClosed as error:
            output_dir = output_directory(argv, cwd)
            saved = saved_files(RunResult("", finished), output_dir) + files_since(output_dir, started)
            raise ServerClosed(f"{error}. {saved_so_far(sorted(set(saved)))}") from None
        finally:
            if progress is not None:
                progress.close()
    return RunReport(prompt, changes, result, saved_files(result, output_directory(argv, cwd)), shown_texts(result, prompt))


def files_since(folder: str | None, started: float) -> list[str]:
    """Files under the (local) output folder written since `started`: partial videos and their manifests included."""
    if folder is None or not os.path.isdir(folder):
        return []
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            try:
                if not name.endswith(".tmp") and os.path.getmtime(path) >= started:
                    found.append(path)
            except OSError:  # gone since it was listed
                pass
    return found


def saved_so_far(paths: list[str]) -> str:
    """One line per file; a StreamingT2V manifest also says how far its run got and how to resume it."""
    if not paths:
        return "Nothing was saved (or the output folder is not on this machine)."
    lines = ["Saved so far:"]
    for path in paths:
        lines.append(f"  {path}")
        manifest = _manifest(path)
        if manifest is not None:
            lines[-1] += (f" (status {manifest.get('status')!r}, {len(manifest['chunk_log'])} chunks; resume with "
                          f"--set STV_Extend.resume_manifest=<this file under the output folder>)")
    return "\n".join(lines)


def _manifest(path: str) -> dict | None:
    if not path.endswith(".json"):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("chunk_log"), list) else None
