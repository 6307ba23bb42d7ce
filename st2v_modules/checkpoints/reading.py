"""Read tensors from weight files without running code and without a second copy in RAM."""
from __future__ import annotations

import json
import os
import pickle
import zipfile

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from .errors import CheckpointError

WRAPPER_KEYS = ("state_dict", "module")


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """All tensors of a `.safetensors` or pickle file (`weights_only=True`, memory-mapped where the format allows)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"Model file not found: {path}. Check the file name, or put the file into the models folder and refresh.")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{os.path.basename(path)} is empty (0 bytes): the download did not finish; download it again.")
    if path.endswith(".safetensors") or path.endswith(".sft"):
        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{os.path.basename(path)} is not a readable .safetensors file ({e}); it is probably "
                                  "truncated or corrupt: download it again.") from None
    return _read_pickle(path)


def safetensors_metadata(path: str) -> dict[str, str]:
    if not path.endswith(".safetensors"):
        return {}
    with safe_open(path, framework="pt") as f:
        return f.metadata() or {}


def _read_pickle(path: str) -> dict[str, torch.Tensor]:
    name = os.path.basename(path)
    try:
        mmap = zipfile.is_zipfile(path)  # only the zip format can be memory-mapped
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{name} holds Python objects other than tensors, so it was not loaded (only plain "
                              f"weights are read, nothing in a file may run code): {_first_line(e)}") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{name} could not be read ({_first_line(e)}); it is probably truncated or "
                              "corrupt: download it again.") from None
    for key in WRAPPER_KEYS:
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{name} is not a state dict of tensors; expected a model weights file.")
    return data


def _first_line(error: Exception) -> str:
    lines = str(error).splitlines()
    return lines[0] if lines else type(error).__name__


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_state_dict(sd: dict[str, torch.Tensor], expected: dict[str, torch.Size], what: str, name: str) -> None:
    """Refuse weights whose keys or shapes differ from the module's, with counts and first examples, and weights that
    are not floating point (integers under the right keys would load and run as nonsense)."""
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    wrong = [f"{k} {tuple(sd[k].shape)} != {tuple(s)}" for k, s in expected.items() if k in sd and sd[k].shape != s]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{name} does not fit {what}: {len(missing)} missing keys (e.g. {missing[:3]}), {len(unexpected)} "
            f"unexpected keys (e.g. {unexpected[:3]}), {len(wrong)} wrong shapes (e.g. {wrong[:2]}).")
    not_float = [f"{k} ({str(sd[k].dtype).removeprefix('torch.')})" for k in expected if not sd[k].is_floating_point()]
    if not_float:
        raise CheckpointError(f"{name} does not fit {what}: {len(not_float)} tensors are not floating point (e.g. "
                              f"{', '.join(not_float[:3])}); weights are fp32, fp16 or bf16. The file was converted "
                              "wrongly or is not a weights file: download it again.")
