"""Run a workflow for every prompt of a list on a Ray cluster: one headless ComfyUI per GPU, progress in the terminal,
a table of what was made at the end.

    python -m st2v_modules.distributed streamingt2v_text_to_video prompts.txt --frames 240
    python -m st2v_modules.distributed my_workflow.json prompts.jsonl --address auto --models /shared/models --output /shared/out
    python -m st2v_modules.distributed streamingt2v_text_to_video_enhanced prompts.txt --workers 2 --enhance-on 6 --enhance-segments 3

The prompt list holds one prompt per line, or one JSON object per line: {"prompt": ..., "negative": ..., "seed": ...,
"frames": ..., "set": ["node.input=value", ...]}. Without --address a Ray cluster is started on this machine (on
127.0.0.1 only) and stopped at the end. Every item's files go to <name>/<item number>/ under the output folder. A
worker lost mid-video is replaced and the item continues from its manifest on the next free worker; run the same
command with the same --name after a crash of this command and each item continues from its newest manifest. Exit
status 0 when every item was made, 1 when some failed, 2 for problems before any ran.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

from ..headless.runner import UsageError, find_workflow
from . import cluster
from .items import read_items

EXIT_FAILED, EXIT_USAGE = 1, 2
PACK_COMFYUI = os.path.dirname(os.path.dirname(os.path.dirname(cluster.PACKAGE)))  # ComfyUI/custom_nodes/<pack>/../..


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m st2v_modules.distributed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow", help="a workflow .json (browser or API format), or the name of one in workflows/")
    parser.add_argument("prompts", help="the prompt list: a text file with one prompt per line, or JSON lines")
    parser.add_argument("--address", help="a running Ray cluster: 'auto' (the one `ray start` made on this machine) or "
                                          "host:port; default: a new local one on 127.0.0.1")
    parser.add_argument("--comfyui", default=PACK_COMFYUI, metavar="PATH",
                        help="the ComfyUI folder, at this path on every node (default: the one this pack is in)")
    parser.add_argument("--comfyui-args", default="", help="extra main.py arguments for every worker; write it with =, "
                                                           "e.g. --comfyui-args=\"--lowvram\"")
    parser.add_argument("--models", metavar="DIR", help="a models folder at this path on every node, added to each ComfyUI")
    parser.add_argument("--output", metavar="DIR", help="every worker's output folder; shared between nodes, a lost "
                                                        "node's video continues on another (default: ComfyUI's output/)")
    parser.add_argument("--fetch", metavar="DIR", help="bring every file back through Ray's object store into DIR "
                                                       "(when the nodes do not share a disk)")
    parser.add_argument("--workers", type=int, help="workers of the first pool (default: one per free GPU, 1 with --cpu)")
    parser.add_argument("--cpu", action="store_true", help="workers without a GPU (ComfyUI with --cpu); slow, for tests")
    parser.add_argument("--enhance-on", type=int, default=0, metavar="N",
                        help="a second pool of N workers enhances each video while the first extends the next")
    parser.add_argument("--enhance-segments", type=int, default=1, metavar="K",
                        help="with --enhance-on: split each enhancement into K segments on K workers, then stitch them")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.INPUT=VALUE",
                        help="set an input for every item (the list's own \"set\" entries come after)")
    parser.add_argument("--name", help="the run's folder under the output folder (default: distributed/<date-time>)")
    parser.add_argument("--retries", type=int, default=2, help="lost workers a stage survives (default 2)")
    parser.add_argument("--timeout", type=float, help="give a stage up after this many seconds")
    args = parser.parse_args(argv)
    if args.enhance_segments > 1 and not args.enhance_on:
        parser.error("--enhance-segments needs --enhance-on: the segments run on the second pool")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with open(find_workflow(args.workflow)) as f:
            workflow = json.load(f)
        with open(args.prompts, encoding="utf-8") as f:
            items = read_items(f.read(), args.prompts)
        if not os.path.isfile(os.path.join(args.comfyui, "main.py")):
            raise UsageError(f"{args.comfyui} is not a ComfyUI folder (no main.py); pass --comfyui PATH")
    except (UsageError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    workers = args.workers or 1
    try:
        cluster.connect(args.address, None if args.address else max(os.cpu_count() or 1, workers + args.enhance_on))
    except (ConnectionError, RuntimeError, ValueError) as error:
        print(f"error: no Ray cluster at {args.address or 'this machine'}: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return run(args, workflow, items)
    finally:
        cluster.disconnect()


def run(args: argparse.Namespace, workflow: dict, items: list) -> int:
    import ray
    from .job import DONE, Job, Options, summary
    from .progress import Display
    from .worker import WorkerConfig

    gpus = 0 if args.cpu else 1
    if gpus and not ray.cluster_resources().get("GPU"):
        print("error: the Ray cluster has no GPU; add --cpu to run ComfyUI on the CPUs, or connect to a cluster with GPUs "
              "(--address)", file=sys.stderr)
        return EXIT_USAGE
    workers = args.workers or (max(1, int(ray.available_resources().get("GPU", 1)) - args.enhance_on) if gpus else 1)
    config = WorkerConfig(os.path.abspath(args.comfyui), tuple(shlex.split(args.comfyui_args)),
                          args.models and os.path.abspath(args.models), args.output and os.path.abspath(args.output), bool(args.fetch))
    options = Options(workflow, items, config, workers, args.enhance_on, args.enhance_segments, gpus,
                      args.name or f"distributed/{time.strftime('%Y%m%d-%H%M%S')}", tuple(args.set), args.retries, args.timeout)
    display = Display(len(items))
    try:
        reports = Job(options, display).run()
    except (ValueError, RuntimeError) as error:  # the workflow does not convert, or no worker started
        display.close()
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    display.close()
    if args.fetch:
        fetched = write_fetched(reports, args.fetch)
        print(f"{fetched} files fetched into {os.path.abspath(args.fetch)}", file=sys.stderr)
    print(summary(reports))
    return 0 if all(r.status == DONE for r in reports) else EXIT_FAILED


def write_fetched(reports: list, folder: str) -> int:
    """The items' videos (files, or every file of a PNG folder) from the bytes the workers sent, under `folder`."""
    count = 0
    for report in reports:
        for outcome, result in report.results():
            for relative, data in outcome.contents.items():
                if relative == result or relative.startswith(result + "/"):
                    path = os.path.join(folder, relative)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(data)
                    count += 1
    return count


if __name__ == "__main__":
    sys.exit(main())
