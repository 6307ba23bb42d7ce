"""Run a workflow without the browser, on a running ComfyUI or on one started just for this run.

    python -m st2v_modules.run_workflow streamingt2v_text_to_video --prompt "a cat surfing" --frames 80 --seed 3
    python -m st2v_modules.run_workflow my_workflow.json --comfyui ~/ComfyUI --comfyui-args="--cpu --lowvram"
    python -m st2v_modules.run_workflow my_workflow.json --set KSampler.steps=20 --set "Save Video.filename_prefix=x"

The workflow is a file or the name of one in this pack's workflows/ folder, in the browser's format
(converted with the server's node definitions) or the API format. `--set node.input=value` names a node
by id, title or class; `--prompt`, `--negative`, `--seed` and `--frames` find their inputs by following
the graph (see workflow_overrides). Progress is drawn from the server's websocket events; the saved
files' paths are printed, one per line. On failure the exit status is 1 and ComfyUI's own message is
printed (2 for problems before the workflow reached ComfyUI).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys

import aiohttp

from .comfy_client import ComfyClient, RunResult, WorkflowError
from .headless_comfyui import HeadlessComfyUI, ServerStartError
from .terminal_progress import ProgressLine
from .workflow_api import WorkflowError as ConversionError
from .workflow_api import ui_to_api
from .workflow_overrides import OverrideError, apply_aliases, apply_set, title

WORKFLOWS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "workflows")
DEFAULT_URL = "http://127.0.0.1:8188"
EXIT_FAILED, EXIT_USAGE = 1, 2


class UsageError(Exception):
    """Something to fix before the workflow can reach ComfyUI."""


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
    """What text-showing nodes display, paths aside (those are printed with the files)."""
    return [f"{node_id} ({title(prompt, node_id) if node_id in prompt else '?'}): {text}"
            for node_id, node_output in result.outputs.items() for text in node_output.get("text", [])
            if not is_path_text(text)]


class RunProgress:
    """One progress line per running node, fed by the server's events."""

    def __init__(self, prompt: dict):
        self.prompt, self.line = prompt, None

    def __call__(self, kind: str, data: dict) -> None:
        if kind == "executing" and data.get("node") is not None:
            self.close()
            node = str(data["node"])
            self.line = ProgressLine(f"node {node} ({title(self.prompt, node) if node in self.prompt else node})")
            self.line.update(0, None, "running")
        elif kind == "progress" and self.line is not None:
            self.line.update(data["value"], data["max"], f"{data['value']}/{data['max']}")

    def close(self) -> None:
        if self.line is not None:
            self.line.close()
            self.line = None


async def run(args: argparse.Namespace, workflow: dict, url: str, server_argv: list[str] | None, cwd: str | None) -> int:
    async with aiohttp.ClientSession() as session:
        client = ComfyClient(url, session)
        try:
            object_info = await client.get("/object_info")
            argv = server_argv if server_argv is not None else (await client.get("/system_stats"))["system"]["argv"]
        except (aiohttp.ClientError, OSError) as error:
            raise UsageError(f"cannot reach ComfyUI at {url} ({error}); start it, or pass --comfyui PATH to start one") from None
        prompt = to_api(workflow, object_info)
        changes = apply_aliases(prompt, args.prompt, args.negative, args.seed, args.frames)
        for assignment in args.set:
            apply_set(prompt, assignment, changes)
        for change in changes:
            print(f"set {change}", file=sys.stderr)
        progress = RunProgress(prompt)
        try:
            result = await client.run(prompt, progress, args.timeout)
        except asyncio.TimeoutError:
            raise WorkflowError(f"the workflow did not finish within {args.timeout} s") from None
        finally:
            progress.close()
    for text in shown_texts(result, prompt):
        print(text, file=sys.stderr)
    for path in saved_files(result, output_directory(argv, cwd)):
        print(path)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow", help="a workflow .json, or the name of one in workflows/")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", default=DEFAULT_URL, help=f"a running ComfyUI (default {DEFAULT_URL})")
    where.add_argument("--comfyui", metavar="PATH", help="start ComfyUI from this folder for the run (headless, 127.0.0.1)")
    parser.add_argument("--comfyui-args", default="", help="extra arguments for main.py with --comfyui; write it with =, e.g. --comfyui-args=\"--cpu --lowvram\"")
    parser.add_argument("--prompt", help="the positive prompt")
    parser.add_argument("--negative", help="the negative prompt")
    parser.add_argument("--seed", type=int, help="the seed of every sampler")
    parser.add_argument("--frames", type=int, help="the video's total length in frames")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.INPUT=VALUE",
                        help="set any input; NODE is an id, a title or a class (repeatable)")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with open(find_workflow(args.workflow)) as f:
            workflow = json.load(f)
        if args.comfyui is None:
            return asyncio.run(run(args, workflow, args.url, None, None))
        with HeadlessComfyUI(args.comfyui, shlex.split(args.comfyui_args)) as server:
            return asyncio.run(run(args, workflow, server.url, server.argv, server.comfyui))
    except (UsageError, OverrideError, ConversionError, ServerStartError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except WorkflowError as error:
        print(f"ComfyUI: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
