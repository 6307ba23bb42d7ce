"""bench/full_size.py is a benchmark (never run whole in CI); its command line and the layouts it writes are checked."""
import os
import subprocess
import sys

import pytest

from helpers.fixtures import DEFAULT_MANIFEST, ENHANCER_MANIFEST
from helpers.host import REPO

BENCH = os.path.join(REPO, "bench", "full_size.py")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, BENCH, *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def test_help_lists_the_modes():
    done = run("--help")
    assert done.returncode == 0, done.stderr
    for option in ("--dry-run", "--dtype", "--lowvram", "--vram-cap", "--compile", "--ckpt", "--models", "--spec"):
        assert option in done.stdout
    assert "fp8" in done.stdout


@pytest.mark.skipif(not (os.path.isfile(DEFAULT_MANIFEST) and os.path.isfile(ENHANCER_MANIFEST)), reason="needs the key manifests")
def test_the_dry_run_builds_every_layout_on_the_meta_device_and_checks_it_against_the_manifests():
    done = run("--dry-run", "--spec", os.path.dirname(DEFAULT_MANIFEST))
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("full_size: dry_run=1 ")
    figures = dict(item.split("=") for item in last.split()[1:])
    assert figures["streamingt2v_tensors"] == "3407"
    assert float(figures["streamingt2v_params_b"]) == pytest.approx(3.23, abs=0.01)
    assert float(figures["modelscope_params_b"]) == pytest.approx(1.41, abs=0.01)
    assert float(figures["enhancer_params_b"]) == pytest.approx(1.41, abs=0.01)
    assert float(figures["disk_gb_fp16"]) == pytest.approx(12.3, abs=0.1)
