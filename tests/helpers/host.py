"""The real ComfyUI as a test host: found, booted headless on CPU, never written to.

Follows `shared/spec/comfyui_host.md` section 0: COMFYUI_PATH or the ComfyUI folder above the
pack, `--cpu`, a temporary base directory, an in-memory database.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACK_NAME = "ComfyUI-StreamingT2V"


def find_comfyui() -> str | None:
    """COMFYUI_PATH, else the ComfyUI this pack is installed in (also through the link scripts/setup.sh makes)."""
    from st2v_modules.model_files.location import find_comfyui as installed_in
    for path in filter(None, [os.environ.get("COMFYUI_PATH"), installed_in()]):
        path = os.path.abspath(path)
        if all(os.path.exists(os.path.join(path, p)) for p in ("main.py", "nodes.py", "comfy")):
            return path
    return None


SKIP_REASON = ("no ComfyUI host: set COMFYUI_PATH to a ComfyUI folder (CI uses the shared snapshot), "
               "or install this pack into ComfyUI/custom_nodes/ (scripts/setup.sh links it there)")


# what a user's ComfyUI holds besides its code: never taken into a test's ComfyUI
USER_DATA = {"custom_nodes", "models", "output", "input", "temp", "user", "venv", ".venv"}
CODE_FILES = {"requirements.txt", "pyproject.toml", "alembic.ini"}


def comfyui_tree(source: str, target: str) -> str:
    """A writable ComfyUI at `target` made of `source`'s code only: its top-level .py files (and requirements)
    copied, its folders of code linked (never copied), fresh empty custom_nodes/, models/ and output/. Nothing a user
    keeps in a ComfyUI (venvs, models, outputs, custom nodes, extra_model_paths.yaml) comes along, and no file is
    copied through a link."""
    os.makedirs(target)
    for entry in os.scandir(source):
        if entry.name in USER_DATA or entry.name.startswith("."):
            continue
        if entry.is_file(follow_symlinks=False) and (entry.name.endswith(".py") or entry.name in CODE_FILES):
            shutil.copyfile(entry.path, os.path.join(target, entry.name))
        elif entry.is_dir() and any(name.endswith(".py") for name in os.listdir(entry.path)):
            os.symlink(entry.path, os.path.join(target, entry.name), target_is_directory=True)
    for folder in ("custom_nodes", "models", "output"):
        os.makedirs(os.path.join(target, folder))
    return target


def make_base_directory() -> str:
    """A ComfyUI base directory whose custom_nodes/ holds this pack (as a link) and nothing else."""
    base = tempfile.mkdtemp(prefix="stv_comfy_base_")
    os.makedirs(os.path.join(base, "custom_nodes"))
    os.makedirs(os.path.join(base, "models"))
    os.symlink(REPO, os.path.join(base, "custom_nodes", PACK_NAME))
    return base


class Host:
    """ComfyUI imported into this process (library mode); boot once per test session."""

    def __init__(self, comfyui: str, base: str, **options):
        """`options` set more of the host's command-line arguments (`cpu=False`, `lowvram=True`, ...)."""
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        sys.dont_write_bytecode = True
        sys.path.insert(0, comfyui)
        import comfy.options
        comfy.options.enable_args_parsing(False)
        from comfy.cli_args import args
        args.cpu, args.base_directory, args.disable_api_nodes = True, base, True
        args.database_url = "sqlite:///:memory:"
        for name, value in options.items():
            setattr(args, name, value)
        import utils.extra_config  # noqa: F401  must precede `import nodes` (the host's `utils` name clash)
        import execution
        import folder_paths
        import nodes
        asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
        self.base, self.nodes, self.execution, self.folder_paths = base, nodes, execution, folder_paths
        self.executor = execution.PromptExecutor(_ServerStandIn(), cache_type=execution.CacheType.CLASSIC)

    def pack_module(self, dotted: str):
        """A module of the pack as the host imported it (its package name is derived from the folder path)."""
        suffix = "." + dotted
        return next(m for name, m in sys.modules.items() if name.endswith(suffix) and PACK_NAME in (getattr(m, "__file__", "") or ""))

    def validate(self, prompt: dict) -> tuple[bool, dict, list, dict]:
        return asyncio.run(self.execution.validate_prompt(str(uuid.uuid4()), prompt, None))

    def run(self, prompt: dict) -> dict:
        """Execute an API-format prompt; returns the output nodes' ui dicts, or raises with the host's error."""
        ok, error, outputs, node_errors = self.validate(prompt)
        if not ok:
            raise HostValidationError(error, node_errors)
        self.executor.execute(prompt, str(uuid.uuid4()), {}, outputs)
        if not self.executor.success:
            raise HostExecutionError(self.executor.status_messages)
        return self.executor.history_result["outputs"]

    def node_output(self, node_id: str, slot: int = 0):
        """What a node of the last prompt returned on one of its outputs (the executor's cache holds it)."""
        return self.executor.caches.outputs.get(node_id)[slot][0]


class HostValidationError(Exception):
    def __init__(self, error: dict, node_errors: dict):
        super().__init__(f"{error}: {node_errors}")
        self.error, self.node_errors = error, node_errors


class HostExecutionError(Exception):
    def __init__(self, messages: list):
        error = next((data for event, data in messages if event == "execution_error"), {})
        super().__init__(error.get("exception_message", str(messages)))
        self.exception_message = error.get("exception_message", "")
        self.exception_type = error.get("exception_type", "")


class _ServerStandIn:
    """What PromptExecutor needs of the server when there is none (spec section 0.3)."""
    client_id = None
    last_node_id = None
    last_prompt_id = None
    sockets_metadata: dict = {}

    def send_sync(self, event, data, sid=None):
        pass

    def queue_updated(self):
        pass
