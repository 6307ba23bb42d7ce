"""The official-code fixtures (shared/fixtures), read from ST2V_FIXTURES / ST2V_ENHANCER_FIXTURES."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import load_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(REPO, "..", "shared")
# fixture family -> (environment variable, default folder)
FIXTURE_DIRS = {"streamingt2v": ("ST2V_FIXTURES", os.path.join(SHARED, "fixtures", "streamingt2v")),
                "enhancer": ("ST2V_ENHANCER_FIXTURES", os.path.join(SHARED, "fixtures", "enhancer"))}
DEFAULT_MANIFEST = os.path.join(SHARED, "spec", "streamingt2v_keys.tsv")
ENHANCER_MANIFEST = os.path.join(SHARED, "spec", "enhancer_keys.tsv")


def fixtures_dir(family: str = "streamingt2v") -> str:
    variable, default = FIXTURE_DIRS[family]
    return os.path.abspath(os.environ.get(variable, default))


def load_fixture(name: str, family: str = "streamingt2v") -> tuple[dict[str, torch.Tensor], dict]:
    folder = fixtures_dir(family)
    path = os.path.join(folder, f"{name}.safetensors")
    if not os.path.isfile(path):
        pytest.skip(f"fixture {name} not found in {folder} (set {FIXTURE_DIRS[family][0]})")
    with open(os.path.join(folder, f"{name}.json")) as f:
        return load_file(path), json.load(f)


def official_weights() -> dict[str, torch.Tensor]:
    """The tiny weights in the official checkpoint's key layout, as the loader receives them."""
    tensors, _ = load_fixture("cam_apm_unet_tiny")
    return {k[len("weights/"):]: v for k, v in tensors.items() if k.startswith("weights/")}


def official_modules():
    """StreamingUNet3D, CAM and resampler in eval mode, loaded from the fixture weights through the real loader."""
    from helpers.official_checkpoint import official_modules as modules_from
    return modules_from(official_weights())


def tolerance(sidecar: dict) -> float:
    """The sidecar's max abs error bar (the StreamingT2V fixtures' `suggested_tolerance`)."""
    return sidecar["suggested_tolerance"]["max_abs_err"]


def shape(sidecar: dict, tensor: str) -> tuple[int, ...]:
    """A tensor's shape as the sidecar records it."""
    return tuple(sidecar["tensors"][tensor]["shape"])


@dataclass(frozen=True)
class BlendingRun:
    """What the randomized-blending fixture's official run was given (its sidecar's `config`)."""
    frames: int
    chunk: int
    overlap: int
    chunks: int
    steps: int
    noise_level: int  # the grid starts at t = noise_level - 1
    guide_scale: float
    guide_rescale: float
    y_cond: float  # the toy model's text term for the prompt and for the negative prompt
    y_uncond: float

    @classmethod
    def of(cls, sidecar: dict) -> "BlendingRun":
        config, sample = sidecar["config"], sidecar["config"]["sample_args"]
        assert (sample["solver"], sample["discretization"], sample["t_min"]) == ("dpmpp_2m_sde", "trailing", 0), \
            "the fixture format: the official DPM++ 2M SDE on the trailing grid down to t = 0"
        toy = dict(re.findall(r"(y_cond|y_uncond)=(-?[0-9.]+)", config["toy_model"]))
        return cls(config["num_frames"], config["chunk_size"], config["overlap_size"], config["n_chunks"], sample["steps"],
                   sample["t_max"] + 1, config["guide_scale"], config["guide_rescale"], float(toy["y_cond"]), float(toy["y_uncond"]))


def manifest_shapes(variable: str = "ST2V_KEYS_MANIFEST", default: str = DEFAULT_MANIFEST) -> dict[str, torch.Size]:
    """Every key and shape of a real checkpoint's state dict: streaming_t2v.ckpt by default (the environment
    variable overrides the path), the enhancer's with `enhancer_manifest_shapes`."""
    path = os.environ.get(variable, default)
    if not os.path.isfile(path):
        pytest.skip(f"key manifest not found at {path} (set {variable})")
    shapes = {}
    with open(path) as f:
        for line in f:
            key, shape, _ = line.rstrip("\n").split("\t")
            shapes[key] = torch.Size(int(s) for s in shape.strip("[]").split(",") if s.strip())
    return shapes


def enhancer_manifest_shapes() -> dict[str, torch.Size]:
    return manifest_shapes("ST2V_ENHANCER_KEYS_MANIFEST", ENHANCER_MANIFEST)


def enhancer_weights() -> tuple[dict[str, torch.Tensor], dict]:
    """The tiny enhancer weights under their published keys, and the fixture's sidecar."""
    tensors, sidecar = load_fixture("v2v_unet_tiny", "enhancer")
    return {k[len("weights/"):]: v for k, v in tensors.items() if k.startswith("weights/")}, sidecar


def enhancer_config(sidecar: dict):
    """Our UNet3DConfig for the fixture's `Vid2VidSDUNet` constructor arguments."""
    from st2v_modules.models.config import CROSS_ATTN_DOWN, CROSS_ATTN_UP, PLAIN_DOWN, PLAIN_UP, UNet3DConfig
    kw = sidecar["constructor_kwargs"]
    attention = [1 / 2**i in kw["attn_scales"] for i in range(len(kw["dim_mult"]))]
    return UNet3DConfig(block_out_channels=tuple(kw["dim"] * m for m in kw["dim_mult"]),
                        down_block_types=tuple(CROSS_ATTN_DOWN if a else PLAIN_DOWN for a in attention),
                        up_block_types=tuple(CROSS_ATTN_UP if a else PLAIN_UP for a in reversed(attention)),
                        layers_per_block=kw["num_res_blocks"], attention_head_dim=kw["head_dim"],
                        cross_attention_dim=kw["context_dim"], transformer_in_heads=kw["num_heads"], row_padded_resampling=True)
