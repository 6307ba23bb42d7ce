"""Activation memory of one full-size ModelScope UNet3D forward, the constant behind `memory_required`.

Builds the real architecture with uninitialised weights (values do not change memory), runs one
256x256, 16-frame chunk with cond and uncond batched (fp32 CPU), and prints peak RSS growth per
latent pixel-frame per byte of dtype. Last line: `unet_memory: bytes_per_latent_pixel_per_dtype_byte=...`.
"""
from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from st2v_modules.models.config import MODELSCOPE_T2V  # noqa: E402
from st2v_modules.models.unet3d import UNet3D  # noqa: E402
from unet_forward import PeakRSS  # noqa: E402

FRAMES, LATENT, CFG_BATCH = 16, 32, 2


def main() -> None:
    model = UNet3D(MODELSCOPE_T2V, device="meta").to_empty(device="cpu").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    x = torch.randn(CFG_BATCH * FRAMES, 4, LATENT, LATENT)
    context = torch.randn(CFG_BATCH, 77, 1024)
    with torch.inference_mode(), PeakRSS() as peak:
        model(x, torch.tensor([981.0]), context, num_frames=FRAMES)
    pixels = x.shape[0] * LATENT * LATENT
    per_pixel = peak.peak / pixels / x.element_size()
    print(f"peak activation growth {peak.peak / 2**30:.2f} GiB for {x.shape[0]} frames of {LATENT}x{LATENT} latents")
    print(f"unet_memory: bytes_per_latent_pixel_per_dtype_byte={per_pixel:.0f} peak_gib={peak.peak / 2**30:.2f} frames={x.shape[0]}")


if __name__ == "__main__":
    main()
