"""The official-code fixtures (shared/fixtures), read from ST2V_FIXTURES / ST2V_ENHANCER_FIXTURES."""
from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DIR = os.path.join(REPO, "..", "shared", "fixtures", "streamingt2v")


def fixtures_dir() -> str:
    return os.path.abspath(os.environ.get("ST2V_FIXTURES", DEFAULT_DIR))


def load_fixture(name: str) -> tuple[dict[str, torch.Tensor], dict]:
    folder = fixtures_dir()
    path = os.path.join(folder, f"{name}.safetensors")
    if not os.path.isfile(path):
        pytest.skip(f"fixture {name} not found in {folder} (set ST2V_FIXTURES)")
    with open(os.path.join(folder, f"{name}.json")) as f:
        return load_file(path), json.load(f)


def official_weights() -> dict[str, torch.Tensor]:
    """The tiny weights in the official checkpoint's key layout, as the loader receives them."""
    tensors, _ = load_fixture("cam_apm_unet_tiny")
    return {k[len("weights/"):]: v for k, v in tensors.items() if k.startswith("weights/")}


def tolerance(sidecar: dict, default: float = 1e-4) -> float:
    return sidecar.get("suggested_tolerance", {}).get("max_abs_err", default)
