"""Precision drift of the extend loop: the same run (start, seeds, prompts, official sampler) with the UNet + CAM and
the VAE in fp32, and in the dtypes a GPU picks by default (fp16 UNet, bf16 VAE) or the user chooses. Each chunk's
decoded frames condition the next, so rounding can compound along the video; the figure is, per chunk, the mean
absolute difference of its new frames from the fp32 run's (pixels in [0, 1]).

The reduced dtypes really compute in that dtype here (on CPU the host would fall back to fp32 compute): the UNet's
inputs are cast to its weight dtype and the VAE is built in its dtype. Tiny official-layout weights (the fixtures'),
a random full-size SD VAE, 64x64 frames; the numbers measure rounding, not a trained model.
Last line: `precision_drift: chunks=... <setting>_chunk1=... <setting>_last=... <setting>_growth=...`
"""
from __future__ import annotations

import argparse
import os
import tempfile

from tiny_extend import boot_host, extend_request, write_tiny_models

SETTINGS = {  # name -> (UNet and CAM weights, VAE dtype, Extend's vae_decode)
    "fp32": ("fp32", "fp32", "fp32"),
    "gpu_default_before": ("fp16", "bf16", "vae dtype"),  # fp16 UNet, decoded in the VAE's bf16
    "gpu_default": ("fp16", "bf16", "fp32"),  # the same, decoded in fp32 (Extend's default)
    "bf16_everywhere": ("bf16", "bf16", "vae dtype"),
    "fp32_unet_bf16_decode": ("fp32", "bf16", "vae dtype"),
    "fp16_unet_only": ("fp16", "fp32", "fp32"),
}
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def pieces(h, models_dir: str, unet: str, vae: str):
    import torch
    import comfy.clip_vision
    import comfy.sd
    from safetensors.torch import load_file
    from helpers.fake_models import CLIP_VISION, STREAMINGT2V_CKPT, VAE
    from tiny_extend import Pieces
    model, _, _, _, stv = h.pack_module("nodes.streamingt2v_model").load_streamingt2v(
        os.path.join(models_dir, "streamingt2v", STREAMINGT2V_CKPT), STREAMINGT2V_CKPT, unet)
    model.model.manual_cast_dtype = None  # compute in the weights' dtype, as a GPU does
    clip_vision = comfy.clip_vision.load(os.path.join(models_dir, "clip_vision", CLIP_VISION))
    sd = {k: v.float() for k, v in load_file(os.path.join(models_dir, "vae", VAE)).items()}
    vae_model = comfy.sd.VAE(sd=sd, dtype=getattr(torch, DTYPES[vae]))
    return Pieces(h.pack_module("nodes.extend_engine"), h.pack_module("nodes.guiding"), model, stv, clip_vision, vae_model)


def start_frames(size: int):
    import torch
    y, x = torch.meshgrid(torch.linspace(0, 6, size), torch.linspace(0, 6, size), indexing="ij")
    pattern = torch.stack([torch.sin(x + y), torch.cos(2 * x - y), torch.sin(3 * y)], dim=-1) * 0.3 + 0.5
    return torch.stack([torch.roll(pattern, t, dims=1) for t in range(16)])


def run(h, models_dir: str, setting: tuple[str, str, str], args):
    import torch
    unet, vae, decode = setting
    p = pieces(h, models_dir, unet, vae)
    g = torch.Generator().manual_seed(0)
    text = [[torch.randn(1, 77, 1024, generator=g) * 0.5, {}]]
    request = extend_request(p, start_frames(args.size), 16 + 8 * args.chunks, args.steps, "all", "bench/precision",
                             positive=text, negative=[[torch.zeros(1, 77, 1024), {}]], seed=args.seed)
    request.vae_decode = decode
    with torch.inference_mode():
        frames, _ = p.engine.extend(request)
    return frames[16:].unflatten(0, (args.chunks, 8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10, help="sampler steps per chunk (the paper: 50)")
    parser.add_argument("--size", type=int, default=64, help="frame size in pixels (the paper: 256)")
    parser.add_argument("--seed", type=int, default=33)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names of: " + ", ".join(SETTINGS))
    args = parser.parse_args()
    names = args.settings.split(",")
    with tempfile.TemporaryDirectory() as models_dir:
        write_tiny_models(models_dir)
        from helpers.fake_models import VAE, random_like_shapes, vae_shapes
        from safetensors.torch import save_file
        os.makedirs(os.path.join(models_dir, "vae"), exist_ok=True)
        save_file(random_like_shapes(vae_shapes(), seed=2), os.path.join(models_dir, "vae", VAE))
        h = boot_host(models_dir)
        reference = run(h, models_dir, SETTINGS["fp32"], args)
        fields = [f"chunks={args.chunks}", f"steps={args.steps}", f"size={args.size}"]
        print(f"{'setting':>24} " + " ".join(f"{c + 1:>8}" for c in range(args.chunks)))
        for name in names:
            if name == "fp32":
                continue
            drift = (run(h, models_dir, SETTINGS[name], args) - reference).abs().mean(dim=(1, 2, 3, 4)).tolist()
            print(f"{name:>24} " + " ".join(f"{d:8.5f}" for d in drift), flush=True)
            fields += [f"{name}_chunk1={drift[0]:.5f}", f"{name}_last={drift[-1]:.5f}",
                       f"{name}_growth={drift[-1] / max(drift[0], 1e-12):.3g}"]
    print("precision_drift: " + " ".join(fields))


if __name__ == "__main__":
    main()
