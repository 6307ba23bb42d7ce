"""The MS-Vid2Vid-XL enhancer UNet from the files users download (spec 4.2).

The published `non_ema_0035000.pth` is the `Vid2VidSDUNet` state dict (optionally under "state_dict"),
whose keys follow the same `UNetSD` layout as ModelScope T2V's `text2video_pytorch_model.pth`: the two
differ only in how they resample, which shapes cannot show. A converted `.safetensors` (fp16 or fp32, with
the original or our key names) loads the same way.
"""
from __future__ import annotations

import json
import os

import torch

from ..models.config import MS_VID2VID_XL, UNet3DConfig
from .errors import CheckpointError
from .modelscope import describe, expected_shapes, modelscope_to_diffusers, strip_prefix
from .reading import check_state_dict, read_state_dict, safetensors_metadata

EXPECTED = "the MS-Vid2Vid-XL enhancer UNet (non_ema_0035000.pth from damo/Video-to-Video, or a .safetensors of it)"
CONFIG_METADATA_KEY = "st2v_enhancer_config"
T2V_FILE_NAMES = ("text2video_pytorch_model.pth",)


def load_enhancer_state_dict(path: str, config: UNet3DConfig | None = None) -> tuple[dict[str, torch.Tensor], UNet3DConfig]:
    """Weights in our UNet3D names and the enhancer config (the published one unless the file or caller says)."""
    name = os.path.basename(path)
    if name in T2V_FILE_NAMES:
        raise CheckpointError(f"{name} is the ModelScope text-to-video UNet (the first-chunk model); "
                              f"the enhancer needs {EXPECTED}.")
    sd = strip_prefix(read_state_dict(path))
    kind, stored = describe(sd), _stored_config(path)
    if kind == "diffusers" and stored is None:
        kind = "the ModelScope text-to-video UNet in diffusers layout (the first-chunk model)"
    if kind not in ("modelscope", "diffusers"):
        raise CheckpointError(f"{name} looks like {kind}; expected {EXPECTED}.")
    if kind == "modelscope":
        sd = modelscope_to_diffusers(sd)
    config = config or stored or MS_VID2VID_XL
    check_state_dict(sd, expected_shapes(config), EXPECTED, name)
    return sd, config


def _stored_config(path: str) -> UNet3DConfig | None:
    stored = safetensors_metadata(path).get(CONFIG_METADATA_KEY)
    return UNet3DConfig.from_diffusers(json.loads(stored)) if stored else None


def enhancer_safetensors_metadata(config: UNet3DConfig) -> dict[str, str]:
    """Metadata that makes a converted file self-describing (the loader reads the config back)."""
    return {CONFIG_METADATA_KEY: json.dumps(config.to_dict())}
