"""StreamingT2V Enhance on a tiny model, CPU, 256x256 frames onto the official 1280x720 canvas: peak memory as the
video grows, and frames/s.

Runs the real enhance engine inside ComfyUI (library mode, COMFYUI_PATH) once per length in a fresh process, with a
tiny random MS-Vid2Vid-XL (the real layout and resampling, 32-64 channels, attention only at the coarsest level so
that CPU time goes to the pipeline rather than to 14400-token attention) and a random TAESD VAE (the full SD VAE
at 720p takes seconds per frame on CPU). Last line: `enhance: peak_rss_ratio=... frames_per_s=...` (240 vs 48).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from tiny_extend import boot_host, high_water_bytes

SIZE = 256


def write_tiny_enhancer(path: str) -> None:
    from safetensors.torch import save_file
    from helpers.fake_models import random_like_shapes
    from st2v_modules.models.config import CROSS_ATTN_DOWN, CROSS_ATTN_UP, PLAIN_DOWN, PLAIN_UP, UNet3DConfig
    from st2v_modules.checkpoints.enhancer import enhancer_safetensors_metadata
    from st2v_modules.models.unet3d import UNet3D
    config = UNet3DConfig(block_out_channels=(32, 32, 64), down_block_types=(PLAIN_DOWN, PLAIN_DOWN, CROSS_ATTN_DOWN),
                          up_block_types=(CROSS_ATTN_UP, PLAIN_UP, PLAIN_UP), attention_head_dim=16, transformer_in_heads=2,
                          row_padded_resampling=True)
    shapes = {k: v.shape for k, v in UNet3D(config, device="meta").state_dict().items()}
    weights = {k: v.float() for k, v in random_like_shapes(shapes, seed=7, std=0.05).items()}
    save_file(weights, path, metadata=enhancer_safetensors_metadata(config))


def measure(frames: int, models_dir: str, steps: int, canvas: tuple[int, int]) -> dict:
    import torch
    h = boot_host(models_dir)
    import comfy.samplers
    import comfy_extras.nodes_custom_sampler as custom_sampler
    import comfy.sd
    from helpers.fake_models import random_taesd
    from st2v_modules.sampling.enhancer_schedule import official_sigmas
    engine = h.pack_module("nodes.enhance_engine")
    model = engine.enhancer_model(h.pack_module("nodes.enhancer_model").load_enhancer(os.path.join(models_dir, "enhancer.safetensors")), 0.2)
    context = [[torch.randn(1, 77, 1024, generator=torch.Generator().manual_seed(1)), {}]]
    video = torch.rand(frames, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(0))
    conds = {"positive": context, "negative": [[torch.zeros(1, 77, 1024), {}]]}
    request = engine.EnhanceRequest(frames=video, vae=comfy.sd.VAE(sd=random_taesd()), conds=conds,
                                    guider=h.pack_module("nodes.guiding").cfg_guider(7.5),
                                    canvas=canvas, fit="pad (official)", length_mode="trim (official)", chunk=24, overlap=8,
                                    seed=666, filename_prefix="bench/enhance", video_format="mp4 (h264)",
                                    output_frames="last chunk", fps=8.0)
    sigmas = official_sigmas(model.get_model_object("model_sampling").vp_sigmas, steps)
    rss_start = high_water_bytes()
    start = time.perf_counter()
    with torch.inference_mode():
        _, path = engine.enhance(request, model, custom_sampler.Noise_RandomNoise(666), comfy.samplers.sampler_object("dpmpp_2m_sde"),
                                 sigmas)
    return {"frames": frames, "seconds": time.perf_counter() - start, "peak_rss": high_water_bytes(), "rss_before_run": rss_start,
            "video_bytes": os.path.getsize(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, nargs=2, default=[48, 240])
    parser.add_argument("--steps", type=int, default=1, help="sampler steps (official: 30; memory does not depend on it)")
    parser.add_argument("--canvas", type=int, nargs=2, default=[1280, 720], help="width height (official: 1280 720)")
    parser.add_argument("--child", type=int)
    parser.add_argument("--models")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.models, args.steps, tuple(args.canvas))))
        return
    with tempfile.TemporaryDirectory() as models:
        write_tiny_enhancer(os.path.join(models, "enhancer.safetensors"))
        results = []
        for frames in args.frames:
            out = subprocess.run([sys.executable, __file__, "--child", str(frames), "--models", models, "--steps", str(args.steps),
                                  "--canvas", *map(str, args.canvas)],
                                 check=True, capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            print(f"{frames} input frames: {result['seconds']:.1f} s ({frames / result['seconds']:.2f} frames/s), peak RSS "
                  f"{result['peak_rss'] / 2**20:.0f} MiB (before the run {result['rss_before_run'] / 2**20:.0f} MiB)", flush=True)
    short, long = results
    print(f"enhance: peak_rss_ratio={long['peak_rss'] / short['peak_rss']:.3f} frames_per_s={long['frames'] / long['seconds']:.3f} "
          f"peak_rss_mib_{short['frames']}={short['peak_rss'] / 2**20:.0f} peak_rss_mib_{long['frames']}={long['peak_rss'] / 2**20:.0f} "
          f"steps={args.steps} canvas={args.canvas[0]}x{args.canvas[1]}")


if __name__ == "__main__":
    main()
