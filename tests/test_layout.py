"""The package layout as a contract: st2v_modules never imports the host, and its imports run one way (the commands
and the headless tooling on top, the models at the bottom)."""
import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "st2v_modules")
HOST_MODULES = {"comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "node_helpers", "nodes", "execution",
                "server", "latent_preview"}
# sub-package -> the sub-packages it may import; the top-level modules (the commands) may import any
ALLOWED = {
    "models": set(),
    "checkpoints": {"models"},
    "sampling": set(),
    "video_files": set(),
    "model_files": set(),
    "metrics": {"sampling", "video_files", "checkpoints", "model_files"},
    "headless": {"model_files"},  # the runner's refusal names the command that downloads what is missing
    "distributed": {"headless", "model_files", "sampling", "video_files"},
}


def modules() -> list[tuple[str, str]]:
    """(path, dotted name under st2v_modules) of every module."""
    found = []
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found.append((path, os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")))
    return found


def imports(path: str, dotted: str) -> set[str]:
    """Absolute names of what a module imports; relative imports resolved to `st2v_modules.<...>`."""
    here = ["st2v_modules", *dotted.split(".")[:-1]]
    names = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names |= {target} if node.module else {f"{target}.{alias.name}" for alias in node.names}
    return names


def test_st2v_modules_imports_nothing_of_the_host():
    offenders = {dotted: sorted(n for n in imports(path, dotted) if n.split(".")[0] in HOST_MODULES) for path, dotted in modules()}
    assert not {k: v for k, v in offenders.items() if v}


def test_every_sub_package_is_in_the_layout():
    packages = {d for d in os.listdir(PACKAGE) if os.path.isfile(os.path.join(PACKAGE, d, "__init__.py"))}
    assert packages == set(ALLOWED), "add the new package to ALLOWED with the packages it may import"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_run_one_way(package):
    used = set()
    for path, dotted in modules():
        if dotted.split(".")[0] == package:
            used |= {n.split(".")[1] for n in imports(path, dotted) if n.startswith("st2v_modules.") and n.count(".") >= 1}
    assert used - {package} <= ALLOWED[package], f"{package} imports {sorted(used - {package} - ALLOWED[package])}"


def test_ray_stays_in_the_distributed_package():
    """Ray is an optional extra: the nodes and the rest of st2v_modules never import it, nor the package that does."""
    files = [(path, dotted) for path, dotted in modules() if dotted.split(".")[0] != "distributed"]
    for folder, _, names in os.walk(os.path.join(REPO, "nodes")):
        files += [(os.path.join(folder, n), "nodes." + n[:-3]) for n in names if n.endswith(".py")]
    files.append((os.path.join(REPO, "__init__.py"), "__init__"))
    offenders = {dotted: sorted(n for n in imports(path, dotted) if n.split(".")[0] == "ray" or "distributed" in n.split("."))
                 for path, dotted in files}
    assert not {k: v for k, v in offenders.items() if v}
