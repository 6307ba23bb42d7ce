"""StreamingT2V Enhance on a tiny model, CPU, 256x256 frames to the official 1280x720 canvas: peak memory as the
video grows, and frames/s.

Runs the real enhance engine inside ComfyUI (library mode, COMFYUI_PATH) with the tiny MS-Vid2Vid-XL fixture
weights and a random TAESD VAE (the full SD VAE at 720p takes seconds per frame on CPU), once per length in a
fresh process. Last line: `enhance: peak_rss_ratio=... frames_per_s=...` (240 input frames vs 48).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]
SIZE = 256


def high_water_bytes() -> int:
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))


def random_taesd():
    """A TAESD encoder + decoder with random weights, built by the host's VAE class."""
    import comfy.sd
    import comfy.taesd.taesd
    from fake_models import random_like_shapes
    taesd = comfy.taesd.taesd.TAESD()
    sd = {}
    for part in ("taesd_encoder", "taesd_decoder"):
        shapes = {k: v.shape for k, v in getattr(taesd, part).state_dict().items()}
        sd.update({f"{part}.{k}": v.float() for k, v in random_like_shapes(shapes, seed=4, std=0.1).items()})
    return comfy.sd.VAE(sd=sd)


def measure(frames: int, models_dir: str, steps: int) -> dict:
    import torch
    import host as test_host
    base = test_host.make_base_directory()
    os.rmdir(os.path.join(base, "models"))
    os.symlink(models_dir, os.path.join(base, "models"))
    h = test_host.Host(test_host.find_comfyui(), base)
    import comfy.samplers
    import comfy_extras.nodes_custom_sampler as custom_sampler
    from fake_models import ENHANCER
    from st2v_modules.enhancer_schedule import official_sigmas
    engine = h.pack_module("nodes.enhance_engine")
    model = engine.enhancer_model(h.pack_module("nodes.enhancer_model").load_enhancer(os.path.join(models_dir, "streamingt2v", ENHANCER)), 0.2)
    context = [[torch.randn(1, 77, 1024, generator=torch.Generator().manual_seed(1)), {}]]
    video = torch.rand(frames, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(0))
    request = engine.EnhanceRequest(frames=video, vae=random_taesd(), positive=context, negative=[[torch.zeros(1, 77, 1024), {}]],
                                    canvas=(1280, 720), fit="pad (official)", length_mode="trim (official)", chunk=24, overlap=8,
                                    seed=666, filename_prefix="bench/enhance", video_format="mp4 (h264)",
                                    output_frames="last chunk", fps=8.0)
    sigmas = official_sigmas(model.get_model_object("model_sampling").vp_sigmas, steps)
    rss_start = high_water_bytes()
    start = time.perf_counter()
    with torch.inference_mode():
        _, path = engine.enhance(request, model, custom_sampler.Noise_RandomNoise(666), comfy.samplers.sampler_object("dpmpp_2m_sde"),
                                 sigmas, 7.5)
    return {"frames": frames, "seconds": time.perf_counter() - start, "peak_rss": high_water_bytes(), "rss_before_run": rss_start,
            "video_bytes": os.path.getsize(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, nargs=2, default=[48, 240])
    parser.add_argument("--steps", type=int, default=2, help="sampler steps (official: 30)")
    parser.add_argument("--child", type=int)
    parser.add_argument("--models")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.models, args.steps)))
        return
    from fake_models import ENHANCER, write_enhancer
    with tempfile.TemporaryDirectory() as models:
        os.makedirs(os.path.join(models, "streamingt2v"))
        write_enhancer(os.path.join(models, "streamingt2v", ENHANCER))
        results = []
        for frames in args.frames:
            out = subprocess.run([sys.executable, __file__, "--child", str(frames), "--models", models, "--steps", str(args.steps)],
                                 check=True, capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            print(f"{frames} input frames: {result['seconds']:.1f} s ({frames / result['seconds']:.2f} frames/s), peak RSS "
                  f"{result['peak_rss'] / 2**20:.0f} MiB (before the run {result['rss_before_run'] / 2**20:.0f} MiB)")
    short, long = results
    print(f"enhance: peak_rss_ratio={long['peak_rss'] / short['peak_rss']:.3f} frames_per_s={long['frames'] / long['seconds']:.3f} "
          f"peak_rss_mib_{short['frames']}={short['peak_rss'] / 2**20:.0f} peak_rss_mib_{long['frames']}={long['peak_rss'] / 2**20:.0f} "
          f"steps={args.steps} canvas=1280x720")


if __name__ == "__main__":
    main()
