"""Run a workflow without the browser, on a running ComfyUI or on one started just for this run.

    python -m st2v_modules.run_workflow streamingt2v_text_to_video --prompt "a cat surfing" --frames 80 --seed 3
    python -m st2v_modules.run_workflow my_workflow.json --comfyui ~/ComfyUI --comfyui-args="--lowvram"
    python -m st2v_modules.run_workflow my_workflow.json --set KSampler.steps=20 --set "Save Video.filename_prefix=x"

The workflow is a file or the name of one in this pack's workflows/ folder, in the browser's format
(converted with the server's node definitions) or the API format. `--set node.input=value` names a node
by id, title or class; `--prompt`, `--negative`, `--seed` and `--frames` find their inputs by following
the graph (see headless/overrides). Progress is drawn from the server's websocket events; the saved
files' paths are printed, one per line. On failure the exit status is 1 and ComfyUI's own message is
printed (2 for problems before the workflow reached ComfyUI).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys

from .headless.client import ServerClosed, WorkflowFailed
from .headless.conversion import ConversionError
from .headless.overrides import OverrideError
from .headless.runner import DEFAULT_URL, Overrides, UsageError, find_workflow, run
from .headless.server import HeadlessComfyUI, ServerStartError, device_args

EXIT_FAILED, EXIT_USAGE = 1, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow", help="a workflow .json, or the name of one in workflows/")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", default=DEFAULT_URL, help=f"a running ComfyUI (default {DEFAULT_URL})")
    where.add_argument("--comfyui", metavar="PATH", help="start ComfyUI from this folder for the run (headless, 127.0.0.1)")
    parser.add_argument("--comfyui-args", default="", help="extra arguments for main.py with --comfyui (--cpu is added when "
                        "no GPU is found); write it with =, e.g. --comfyui-args=\"--lowvram\"")
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
    overrides = Overrides(args.prompt, args.negative, args.seed, args.frames, tuple(args.set))
    server = None
    try:
        path = find_workflow(args.workflow)
        try:
            with open(path, encoding="utf-8") as f:
                workflow = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UsageError(f"{path} is not a readable workflow file ({error})") from None
        if args.comfyui is None:
            report = asyncio.run(run(workflow, args.url, overrides, timeout_s=args.timeout))
        else:
            comfyui_args = device_args(shlex.split(args.comfyui_args))
            if "--cpu" in comfyui_args and "--cpu" not in args.comfyui_args.split():
                print("no GPU found: starting ComfyUI with --cpu", file=sys.stderr)
            with HeadlessComfyUI(args.comfyui, comfyui_args) as server:
                report = asyncio.run(run(workflow, server.url, overrides, server.argv, server.comfyui, args.timeout))
    except (UsageError, OverrideError, ConversionError, ServerStartError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except WorkflowFailed as error:
        ending = ""
        if isinstance(error, ServerClosed) and server is not None and server.process is not None:
            ending = f"\nComfyUI exited with status {server.process.returncode}; its log ends:\n{server.log_tail()}"
        print(f"ComfyUI: {error}{ending}", file=sys.stderr)
        return EXIT_FAILED
    for text in report.texts:
        print(text, file=sys.stderr)
    for path in report.files:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
