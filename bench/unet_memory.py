"""Activation memory of one full-size UNet3D forward, the constant behind `memory_required`.

Builds the real architecture (values do not change memory), runs one chunk with cond and uncond batched (fp32 CPU)
and prints peak RSS growth per latent pixel-frame per byte of dtype. Default: the ModelScope T2V UNet on a 256x256,
16-frame chunk. `--model enhancer`: MS-Vid2Vid-XL on its 1280x720 canvas, a few frames (the cost per latent pixel
is what is measured; a 24-frame window takes hours on a CPU), with every weight a broadcast view of one value so
that only activations take memory. Last line: `unet_memory: bytes_per_latent_pixel_per_dtype_byte=...`.
"""
from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402

from st2v_modules.models.config import MODELSCOPE_T2V, MS_VID2VID_XL  # noqa: E402
from st2v_modules.models.unet3d import UNet3D  # noqa: E402
from unet_forward import PeakRSS  # noqa: E402

CFG_BATCH = 2
MODELS = {"t2v": (MODELSCOPE_T2V, 16, (256, 256)), "enhancer": (MS_VID2VID_XL, 2, (1280, 720))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=list(MODELS), default="t2v")
    parser.add_argument("--frames", type=int, help="frames per chunk (default: 16 for t2v, 2 for the enhancer)")
    args = parser.parse_args()
    config, frames, (width, height) = MODELS[args.model]
    frames = args.frames or frames
    model = UNet3D(config, device="meta").to_empty(device="cpu").eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if args.model == "enhancer":  # one shared value per weight: 5.6 GB of weights would hide the activations
                model.get_submodule(name.rpartition(".")[0]).register_parameter(
                    name.rpartition(".")[2], torch.nn.Parameter(torch.full((1,) * p.ndim, 0.01).expand(p.shape), requires_grad=False))
            else:
                p.normal_(0, 0.02)
    h, w = height // 8, width // 8
    x = torch.randn(CFG_BATCH * frames, 4, h, w)
    context = torch.randn(CFG_BATCH, 77, 1024)
    with torch.inference_mode(), PeakRSS() as peak:
        model(x, torch.tensor([981.0]), context, num_frames=frames)
    pixels = x.shape[0] * h * w
    per_pixel = peak.peak / pixels / x.element_size()
    print(f"peak activation growth {peak.peak / 2**30:.2f} GiB for {x.shape[0]} frames of {w}x{h} latents ({args.model})")
    print(f"unet_memory: model={args.model} bytes_per_latent_pixel_per_dtype_byte={per_pixel:.0f} peak_gib={peak.peak / 2**30:.2f} "
          f"frames={x.shape[0]} latent={w}x{h}")


if __name__ == "__main__":
    main()
