"""Optical flow for MAWE: torchvision's RAFT-large from a weights file the user downloaded; nothing is fetched at run time."""
from __future__ import annotations

import os

import torch
from torchvision.models.optical_flow import Raft_Large_Weights, raft_large

from ..checkpoints.errors import CheckpointError
from ..model_files.catalog import find

RAFT = find("raft_large")  # torchvision's Raft_Large_Weights.DEFAULT, the weights the paper used
RAFT_FILE, RAFT_URL = RAFT.path, RAFT.url
RAFT_GRID = 8  # RAFT works on a 1/8 grid ...
RAFT_MIN_SIZE = 128  # ... and its correlation pyramid needs feature maps of at least 16x16


def check_flow_size(size: int, name: str = "size") -> None:
    if size < RAFT_MIN_SIZE or size % RAFT_GRID:
        fit = max(RAFT_MIN_SIZE, round(size / RAFT_GRID) * RAFT_GRID)
        raise ValueError(f"{name} is {size}; RAFT needs a multiple of {RAFT_GRID} of at least {RAFT_MIN_SIZE}: use {fit} "
                         "(official: 720).")


def load_raft(path: str, device: torch.device | str = "cpu") -> torch.nn.Module:
    """RAFT-large with the weights in `path` (a torchvision state dict), in eval mode on `device`."""
    name = os.path.basename(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{name} cannot be read as PyTorch weights ({error}); download {RAFT_FILE} from "
                              f"{RAFT_URL} again.") from error
    model = raft_large(weights=None, progress=False)
    expected = model.state_dict()
    if not isinstance(state, dict) or set(state) != set(expected):
        keys = set(state) if isinstance(state, dict) else set()
        raise CheckpointError(f"{name} is not RAFT-large weights ({len(set(expected) - keys)} of its {len(expected)} "
                              f"tensors missing, {len(keys - set(expected))} unknown); use torchvision's {RAFT_FILE} "
                              f"({RAFT_URL}).")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{name} has RAFT's tensor names but other shapes (another RAFT variant?); use torchvision's "
                              f"{RAFT_FILE} ({RAFT_URL}).") from error
    return model.eval().to(device)


class RaftFlow:
    """A `FlowFunction`: the RAFT input transforms of the official weights, then the last of RAFT's 12 refinements."""

    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cpu"):
        self.model, self.device = model, torch.device(device)
        self.transforms = Raft_Large_Weights.DEFAULT.transforms()  # builds the transform only; downloads nothing

    @torch.no_grad()
    def __call__(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        left, right = self.transforms(left.to(self.device), right.to(self.device))
        return self.model(left, right)[-1].float()
