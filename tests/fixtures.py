"""The official-code fixtures (shared/fixtures), read from ST2V_FIXTURES / ST2V_ENHANCER_FIXTURES."""
from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DIR = os.path.join(REPO, "..", "shared", "fixtures", "streamingt2v")
DEFAULT_MANIFEST = os.path.join(REPO, "..", "shared", "spec", "streamingt2v_keys.tsv")


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


def official_modules():
    """StreamingUNet3D, CAM and resampler in eval mode, loaded from the fixture weights through the real loader."""
    from st2v_modules.apm import ImageResampler
    from st2v_modules.cam import CAM
    from st2v_modules.streaming_unet import StreamingUNet3D
    from st2v_modules.streamingt2v_checkpoint import streamingt2v_from_state_dict
    w = streamingt2v_from_state_dict(official_weights(), "cam_apm_unet_tiny")
    modules = StreamingUNet3D(w.unet_config), CAM(w.unet_config, w.frame_encoder_channels), ImageResampler(w.resampler_inner_dim)
    for module, sd in zip(modules, (w.unet, w.cam, w.resampler)):
        module.load_state_dict(sd, strict=True)
        module.eval()
    return modules


def tolerance(sidecar: dict, default: float = 1e-4) -> float:
    return sidecar.get("suggested_tolerance", {}).get("max_abs_err", default)


def manifest_shapes() -> dict[str, torch.Size]:
    """Every key and shape of the real streaming_t2v.ckpt state dict (ST2V_KEYS_MANIFEST overrides the path)."""
    path = os.environ.get("ST2V_KEYS_MANIFEST", DEFAULT_MANIFEST)
    if not os.path.isfile(path):
        pytest.skip(f"key manifest not found at {path} (set ST2V_KEYS_MANIFEST)")
    shapes = {}
    with open(path) as f:
        for line in f:
            key, shape, _ = line.rstrip("\n").split("\t")
            shapes[key] = torch.Size(int(s) for s in shape.strip("[]").split(",") if s.strip())
    return shapes
