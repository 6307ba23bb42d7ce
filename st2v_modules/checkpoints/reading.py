"""Read tensors from weight files without running code and without a second copy in RAM.

Files are memory-mapped: a state dict costs no RAM until its tensors are used, keys and shapes can be checked
first, and `materialize` then copies one part at a time into the process's own memory, handing each tensor's
file pages back as it goes, so that loading peaks at the bytes kept plus one tensor.
"""
from __future__ import annotations

import bisect
import ctypes
import functools
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

from .errors import CheckpointError

WRAPPER_KEYS = ("state_dict", "module")
SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                      "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
                      "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}
MADV_DONTNEED = 4  # Linux: drop the pages; clean pages of a private file mapping are read again from the file if touched
COPY_SLICE_BYTES = 16 * 2**20  # the largest tensors (a 100 MB token embedding) are copied and released in slices
_mapped_files: set[str] = set()  # files this module memory-mapped: the only mappings whose pages `materialize` releases


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """All tensors of a `.safetensors` or pickle file (`weights_only=True`), memory-mapped where the format allows."""
    if not os.path.isfile(path):
        raise CheckpointError(f"Model file not found: {path}. Check the file name, or put the file into the models folder and refresh.")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{os.path.basename(path)} is empty (0 bytes): the download did not finish; download it again.")
    if path.endswith(".safetensors") or path.endswith(".sft"):
        return _map_safetensors(path)
    return _read_pickle(path)


def safetensors_metadata(path: str) -> dict[str, str]:
    if not path.endswith(".safetensors"):
        return {}
    return _safetensors_header(path)[0].get("__metadata__") or {}


def _safetensors_header(path: str) -> tuple[dict, int]:
    """The JSON header and where the tensor data starts; a short or garbled header is a broken download."""
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > size - 8:
                raise ValueError(f"the header claims {length} bytes of a {size}-byte file")
            header = json.loads(f.read(length))
        data_end = max((end for k, v in header.items() if k != "__metadata__" for end in v["data_offsets"]), default=0)
        if 8 + length + data_end > size:
            raise ValueError(f"the tensors need {8 + length + data_end} bytes, the file has {size}")
    except (struct.error, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{os.path.basename(path)} is not a readable .safetensors file ({e}); it is probably "
                              "truncated or corrupt: download it again.") from None
    return header, 8 + length


def _map_safetensors(path: str) -> dict[str, torch.Tensor]:
    """Every tensor a view of one private mapping of the file (read lazily, never written back)."""
    header, start = _safetensors_header(path)
    size = os.path.getsize(path)
    storage = torch.UntypedStorage.from_file(path, shared=False, nbytes=size) if size else torch.UntypedStorage(0)
    _mapped_files.add(os.path.realpath(path))
    sd = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = torch.empty(0, dtype=torch.uint8).set_(storage, start + begin, (end - begin,))
        dtype = SAFETENSORS_DTYPES[info["dtype"]]
        if (start + begin) % dtype.itemsize:
            raw = raw.clone()  # an unaligned tensor cannot be viewed in place; copy its few bytes
        sd[key] = raw.view(dtype).reshape(info["shape"])
    return sd


def _read_pickle(path: str) -> dict[str, torch.Tensor]:
    name = os.path.basename(path)
    try:
        mmap = zipfile.is_zipfile(path)  # only the zip format can be memory-mapped
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        if mmap:
            _mapped_files.add(os.path.realpath(path))
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


def materialize(sd: dict[str, torch.Tensor], dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """The tensors copied into the process's own memory one by one (floating ones cast to `dtype`), the file pages of
    each slice released once copied: reading a part costs its bytes in `dtype` plus a few MiB, whatever the file's dtype."""
    mappings = _file_mappings()
    out = {}
    for key, tensor in sd.items():
        target = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
        out[key] = copy = torch.empty(tensor.shape, dtype=target)
        if not mappings or not tensor.is_contiguous():
            copy.copy_(tensor)
            continue
        source, step = tensor.reshape(-1), max(1, COPY_SLICE_BYTES // tensor.element_size())
        for start in range(0, source.numel(), step):
            copy.view(-1)[start:start + step].copy_(source[start:start + step])
            _release_pages(source[start:start + step], mappings)
    return out


def _file_mappings() -> list[tuple[int, int]]:
    """Address ranges of this process's mappings of the files read here (Linux; elsewhere none, so nothing is released)."""
    if not sys.platform.startswith("linux") or not _mapped_files:
        return []
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].rstrip("\n") in _mapped_files:
                start, end = (int(a, 16) for a in fields[0].split("-"))
                ranges.append((start, end))
    return sorted(ranges)


def _release_pages(tensor: torch.Tensor, mappings: list[tuple[int, int]]) -> None:
    """Hand back the whole pages of `tensor` when they belong to a file mapping (they are re-read if touched again)."""
    if tensor.numel() == 0:
        return
    page = os.sysconf("SC_PAGE_SIZE")
    first = tensor.data_ptr()
    last = first + tensor.numel() * tensor.element_size()
    start, end = -(-first // page) * page, last // page * page
    i = bisect.bisect_right(mappings, (first, float("inf"))) - 1
    if end > start and i >= 0 and mappings[i][0] <= start and end <= mappings[i][1]:
        _libc().madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), MADV_DONTNEED)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)
