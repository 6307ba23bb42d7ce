"""streaming_t2v.ckpt to a pickle-free .safetensors (optionally fp16): only the weights, never the optimizer state."""
from __future__ import annotations

import os

import torch
from safetensors.torch import save_file

from .streamingt2v import read_streamingt2v, to_official_state_dict


def convert(source: str, target: str, fp16: bool = False) -> str:
    if not target.endswith(".safetensors"):
        raise ValueError(f"{target}: the converted file must end in .safetensors")
    if os.path.abspath(source) == os.path.abspath(target):
        raise ValueError("the converted file must not overwrite its source")
    sd = to_official_state_dict(read_streamingt2v(source), torch.float16 if fp16 else None)
    save_file(sd, target, metadata={"format": "pt", "converted_from": os.path.basename(source)})
    return target
