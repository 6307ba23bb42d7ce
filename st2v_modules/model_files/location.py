"""The ComfyUI this pack is installed in, found the way a user reaches the pack.

`scripts/setup.sh` links a clone into `ComfyUI/custom_nodes/`. A command run in
`ComfyUI/custom_nodes/<pack>` then sees the clone's own path (the process's working directory has
the link resolved) while the shell shows the path through the link (`$PWD`); and run in the clone
itself, nothing above it is ComfyUI. So the pack is looked for under `$PWD` first, then at its own
path, and last in the ComfyUI setup.sh recorded (`LINK_RECORD`), trusted only while that ComfyUI's
`custom_nodes/<pack>` still leads back here.
"""
from __future__ import annotations

import os

PACK = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINK_RECORD = ".comfyui_path"
"""A file in the pack's folder holding the ComfyUI folder that scripts/setup.sh linked the pack into."""
MODELS_DIR_HELP = "ComfyUI's models folder (default: the one of the ComfyUI this pack is installed in)"
NO_MODELS_DIR = (f"--models-dir is required: no ComfyUI has this pack ({os.path.basename(PACK)}) in its custom_nodes/ "
                 "(neither above this folder nor linked by scripts/setup.sh); pass --models-dir /path/to/ComfyUI/models")


def is_comfyui(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "main.py")) and os.path.isdir(os.path.join(path, "comfy"))


def pack_paths() -> list[str]:
    """This pack's folder as the shell shows it (the ancestor of `$PWD` that is the pack), then its own path."""
    paths = []
    logical = os.environ.get("PWD", "")
    if os.path.isabs(logical) and _same(logical, os.getcwd()):
        path = logical
        while not _same(path, PACK) and os.path.dirname(path) != path:
            path = os.path.dirname(path)
        if _same(path, PACK):
            paths.append(path)
    return paths + [PACK]


def find_comfyui() -> str | None:
    """The ComfyUI folder of `ComfyUI/custom_nodes/<pack>`, through the link setup.sh made if need be; None outside one."""
    for pack in pack_paths():
        comfyui = os.path.dirname(os.path.dirname(pack))
        if is_comfyui(comfyui):
            return comfyui
    return linked_comfyui()


def linked_comfyui() -> str | None:
    try:
        with open(os.path.join(PACK, LINK_RECORD)) as f:
            comfyui = f.read().strip()
    except OSError:
        return None
    link = os.path.join(comfyui, "custom_nodes", os.path.basename(PACK))
    return comfyui if is_comfyui(comfyui) and _same(link, PACK) else None


def find_models_dir() -> str | None:
    comfyui = find_comfyui()
    return os.path.join(comfyui, "models") if comfyui else None


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
