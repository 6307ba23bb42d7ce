"""The README's install command: links the pack into a ComfyUI, installs requirements, starts ComfyUI with the pack."""
import os
import shutil
import subprocess
import sys

import pytest

from helpers.host import REPO

pytestmark = [pytest.mark.host, pytest.mark.server]


def test_setup_script_installs_the_pack_and_starts_comfyui(comfyui_path, tmp_path):
    comfyui = tmp_path / "ComfyUI"
    shutil.copytree(comfyui_path, comfyui)  # the shared snapshot is read-only; setup writes into its ComfyUI
    for root, dirs, files in os.walk(comfyui):
        os.chmod(root, 0o755)
    done = subprocess.run(["bash", os.path.join(REPO, "scripts", "setup.sh"), str(comfyui), "--quick-test-for-ci",
                           "--database-url", "sqlite:///:memory:"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable, "PYTHONDONTWRITEBYTECODE": "1"})
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    link = comfyui / "custom_nodes" / os.path.basename(REPO)
    assert link.is_symlink() and os.path.samefile(link, REPO)
    assert f"custom_nodes/{os.path.basename(REPO)}" in log and "IMPORT FAILED" not in log
    assert (comfyui / "models" / "streamingt2v").is_dir()
