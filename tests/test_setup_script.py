"""The README's install command on the layout it makes: a clone linked into a ComfyUI that has its own venv; then
the downloader and the converter, run in the linked folder and in the clone, find that ComfyUI's models folder."""
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest
import torch

from helpers.host import REPO, USER_DATA, comfyui_tree
from helpers.official_checkpoint import tiny_official_weights
from st2v_modules.model_files.location import is_comfyui

pytestmark = [pytest.mark.host, pytest.mark.server]
PACK = "ComfyUI-StreamingT2V"
NOT_A_CLONE = shutil.ignore_patterns(".git", ".venv*", "__pycache__", "*.pyc", ".pytest_cache", "test-artifacts", ".comfyui_path")


def make_venv(folder: str) -> str:
    """A ComfyUI venv that sees this interpreter's packages (torch included) through a .pth: pip finds the
    requirements installed and fetches nothing. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True)
    purelib = sysconfig.get_paths(vars={"base": folder, "platbase": folder})["purelib"]
    with open(os.path.join(purelib, "test_interpreter.pth"), "w") as f:
        f.write("\n".join(sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})) + "\n")
    return os.path.join(folder, "bin", "python")


def in_shell(folder: str, command: str) -> subprocess.CompletedProcess:
    """`cd folder && command` in bash, as a user types it: the shell's $PWD keeps the path through links."""
    env = {k: v for k, v in os.environ.items() if k not in ("COMFYUI_PATH", "PYTHONPATH")}
    return subprocess.run(["bash", "-c", f'cd "{folder}" && {command}'], capture_output=True, text=True, timeout=300,
                          env={**env, "PYTHONDONTWRITEBYTECODE": "1"})


@pytest.fixture(scope="module")
def installed(comfyui_path, tmp_path_factory):
    """scripts/setup.sh run as the README says, in a clone outside ComfyUI, against a ComfyUI with a venv."""
    tmp = tmp_path_factory.mktemp("setup")
    comfyui = comfyui_tree(comfyui_path, str(tmp / "ComfyUI"))  # never the user's ComfyUI: setup writes into it
    python = make_venv(os.path.join(comfyui, "venv"))
    clone = str(tmp / "src" / PACK)
    shutil.copytree(REPO, clone, ignore=NOT_A_CLONE)  # setup writes into the clone too (.comfyui_path)
    done = in_shell(clone, f'bash scripts/setup.sh "{comfyui}" --quick-test-for-ci --database-url sqlite:///:memory:')
    return comfyui, clone, python, done.stdout + done.stderr, done.returncode


def test_setup_links_the_clone_installs_with_comfyuis_venv_and_loads_the_pack(installed):
    comfyui, clone, python, log, returncode = installed
    assert returncode == 0, log[-3000:]
    link = os.path.join(comfyui, "custom_nodes", PACK)
    assert os.path.islink(link) and os.path.samefile(link, clone)
    assert f"custom_nodes/{PACK}" in log and "IMPORT FAILED" not in log
    assert f"{PACK} is in {link}; ComfyUI's Python, for the pack's python -m commands: {python}" in log
    assert os.path.isdir(os.path.join(comfyui, "models", "streamingt2v"))
    assert open(os.path.join(clone, ".comfyui_path")).read().strip() == comfyui


@pytest.mark.parametrize("where", ["the linked folder", "the clone"])
def test_the_downloader_lists_that_comfyuis_models_folder(installed, where):
    comfyui, clone, python, _, _ = installed
    folder = os.path.join(comfyui, "custom_nodes", PACK) if where == "the linked folder" else clone
    done = in_shell(folder, f'"{python}" -m st2v_modules.download')  # README, Models
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"models folder: {comfyui}/models"
    there = os.path.exists(os.path.join(comfyui, "models", "streamingt2v", "streaming_t2v.ckpt"))
    assert any(line.startswith("streamingt2v ") and f" {'present' if there else 'missing'} " in line for line in lines)


@pytest.mark.parametrize("where", ["the linked folder", "the clone"])
def test_the_converter_reads_and_writes_that_comfyuis_models_folder(installed, where):
    comfyui, clone, python, _, _ = installed
    folder = os.path.join(comfyui, "custom_nodes", PACK) if where == "the linked folder" else clone
    models = os.path.join(comfyui, "models", "streamingt2v")
    torch.save({"state_dict": tiny_official_weights(), "epoch": 0}, os.path.join(models, "streaming_t2v.ckpt"))
    target = os.path.join(models, "streaming_t2v_fp16.safetensors")
    if os.path.exists(target):
        os.remove(target)
    done = in_shell(folder, f'"{python}" -m st2v_modules.convert_checkpoint --fp16')  # README, Models
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == target and os.path.getsize(target) > 0


def test_outside_any_comfyui_the_commands_ask_for_the_models_folder(installed, tmp_path):
    _, clone, python, _, _ = installed
    other = tmp_path / PACK
    shutil.copytree(clone, other, ignore=NOT_A_CLONE)  # a clone that setup.sh never linked
    done = in_shell(str(other), f'"{python}" -m st2v_modules.download')
    assert done.returncode == 2
    assert f"--models-dir is required: no ComfyUI has this pack ({PACK}) in its custom_nodes/" in done.stderr


def test_a_test_comfyui_takes_only_the_code_of_a_users_comfyui(installed, tmp_path):
    """The layout setup.sh leaves (a venv inside, the pack linked, models and outputs) as COMFYUI_PATH: the tests'
    ComfyUI is made of its code alone."""
    users, _, _, _, _ = installed
    for folder, name in [("output", "a_video.mp4"), ("models", "checkpoints/a_model.safetensors")]:
        os.makedirs(os.path.dirname(os.path.join(users, folder, name)), exist_ok=True)
        with open(os.path.join(users, folder, name), "wb") as f:
            f.write(b"\0" * 2**20)
    assert os.path.islink(os.path.join(users, "custom_nodes", PACK)) and os.path.isdir(os.path.join(users, "venv"))
    tree = comfyui_tree(users, str(tmp_path / "ComfyUI"))
    assert is_comfyui(tree)
    assert all(os.listdir(os.path.join(tree, folder)) == [] for folder in ("custom_nodes", "models", "output"))
    assert not (USER_DATA - {"custom_nodes", "models", "output"}) & set(os.listdir(tree))
    copied = [os.path.join(root, name) for root, _, names in os.walk(tree) for name in names]  # links not followed
    assert sum(os.path.getsize(p) for p in copied if not os.path.islink(p)) < 2**20  # main.py, nodes.py, ...
