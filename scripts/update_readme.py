"""Regenerates README.md's node and model tables from the code, so the README cannot drift from it.

    COMFYUI_PATH=/path/to/ComfyUI .venv/bin/python scripts/update_readme.py          # rewrite README.md
    COMFYUI_PATH=/path/to/ComfyUI .venv/bin/python scripts/update_readme.py --check  # exit 1 if it is stale

The node table comes from every StreamingT2V node's schema as ComfyUI sees it (the pack is loaded
into a headless ComfyUI, as the tests do); the model table from st2v_modules/model_files/catalog.py. Each
table sits between `<!-- name:begin -->` and `<!-- name:end -->` markers; the rest of README is
left as written. tests/test_readme.py fails when the committed README differs.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
COMMAND = "COMFYUI_PATH=/path/to/ComfyUI .venv/bin/python scripts/update_readme.py"
NODE_PREFIX = "STV_"


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def node_table(node_classes: dict[str, type]) -> str:
    """One row per StreamingT2V node, in the order the pack registers them, from its V1 info (/object_info)."""
    rows = ["| node | category | inputs | outputs | what it does |", "| --- | --- | --- | --- | --- |"]
    for node_id, node in node_classes.items():
        if not node_id.startswith(NODE_PREFIX):
            continue
        info = node.GET_NODE_INFO_V1()
        inputs = [f"`{name}`" for name in info["input"].get("required", {})]
        inputs += [f"`{name}` (optional)" for name in info["input"].get("optional", {})]
        outputs = [kind if name == kind else f"`{name}` {kind}" for name, kind in zip(info["output_name"], info["output"])]
        rows.append(f"| {cell(info['display_name'])} (`{node_id}`) | {cell(info['category'])} | {', '.join(inputs)} "
                    f"| {', '.join(outputs) or '—'} | {cell(info['description'])} |")
    return "\n".join(rows)


def tables(node_classes: dict[str, type]) -> dict[str, str]:
    sys.path.insert(0, REPO)
    from st2v_modules.model_files.catalog import markdown_table
    return {"nodes": node_table(node_classes), "models": markdown_table()}


def apply(readme: str, generated: dict[str, str]) -> str:
    """README with each marked block replaced; a missing marker pair is an error, not a silent skip."""
    for name, table in generated.items():
        pattern = re.compile(rf"(<!-- {name}:begin[^>]*-->\n).*?(\n<!-- {name}:end -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(f"README.md has no <!-- {name}:begin --> ... <!-- {name}:end --> block")
        readme = pattern.sub(lambda m: m.group(1) + table + m.group(2), readme)
    return readme


def boot_host():
    """ComfyUI with this pack loaded, headless on CPU (tests/host.py)."""
    sys.path[:0] = [REPO, os.path.join(REPO, "tests")]
    from helpers import host
    comfyui = host.find_comfyui()
    if comfyui is None:
        sys.exit(host.SKIP_REASON)
    return host.Host(comfyui, host.make_base_directory())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report whether README.md is current (exit 1 if not)")
    args = parser.parse_args(argv)
    with open(README) as f:
        current = f.read()
    updated = apply(current, tables(boot_host().nodes.NODE_CLASS_MAPPINGS))
    if args.check:
        print("README.md is current" if updated == current else f"README.md is stale: run {COMMAND}")
        return 0 if updated == current else 1
    with open(README, "w") as f:
        f.write(updated)
    print("README.md updated" if updated != current else "README.md was already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
