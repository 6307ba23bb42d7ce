"""The forward warp of the paper's MAWE (spec 5): every pixel is pushed along its flow to the nearest target pixel."""
from __future__ import annotations

import torch


def forward_warp(image: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`image [C, H, W]`, `flow [2, H, W]` (x then y, in pixels) -> (warped `[C, H, W]`, valid `[H, W]` bool).

    Pixel p lands on round(p + flow(p)) (half to even, as the official float rounding). Where several pixels land on
    one target, the one last in row-major order wins, as the official numpy scatter writes them. Targets that no pixel
    reaches stay 0 and are invalid, so the warp error ignores them.
    """
    channels, height, width = image.shape
    flow = flow.to(torch.float32)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32, device=flow.device),
                            torch.arange(width, dtype=torch.float32, device=flow.device), indexing="ij")
    target_x, target_y = (xs + flow[0]).round(), (ys + flow[1]).round()
    inside = (target_x >= 0) & (target_y >= 0) & (target_x < width) & (target_y < height)
    target = (target_y[inside] * width + target_x[inside]).long()
    source = torch.arange(height * width, device=flow.device).view(height, width)[inside]
    winner = torch.full((height * width,), -1, dtype=torch.long, device=flow.device)
    winner.scatter_reduce_(0, target, source, reduce="amax")
    valid = winner >= 0
    warped = torch.zeros(channels, height * width, dtype=image.dtype, device=image.device)
    warped[:, valid] = image.reshape(channels, -1)[:, winner[valid]]
    return warped.view(channels, height, width), valid.view(height, width)
