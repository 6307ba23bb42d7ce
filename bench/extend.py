"""StreamingT2V Extend on a tiny model, CPU, 256x256 frames: memory as the video grows, loop overhead, frames/s.

Runs the real extend engine inside ComfyUI (library mode, COMFYUI_PATH) on the tiny official-layout weights of
the fixtures, a random TAESD VAE and a random ViT-H image encoder, once per length in a fresh process.
Last line: `extend: peak_rss_ratio=... overhead_fraction=... frames_per_s=...` (1200 frames vs 80).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from tiny_extend import SIZE, boot_host, extend_request, high_water_bytes, load_tiny, write_tiny_models

MODEL_TIMERS = ("unet", "vae", "conditioner", "clip_vision")


def measure(frames: int, models_dir: str, steps: int) -> dict:
    import torch
    pieces = load_tiny(boot_host(models_dir), models_dir)
    stv, clip_vision, vae = pieces.streamingt2v, pieces.clip_vision, pieces.vae

    timers = {"unet": 0.0, "vae": 0.0, "conditioner": 0.0, "clip_vision": 0.0}

    def timed(name, fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            timers[name] += time.perf_counter() - start
            return out
        return run

    model = pieces.model = pieces.model.clone()
    model.set_model_unet_function_wrapper(lambda apply, args: timed("unet", apply)(args["input"], args["timestep"], **args["c"]))
    vae.decode = timed("vae", vae.decode)
    stv.conditioner.frame_features = timed("conditioner", stv.conditioner.frame_features)
    stv.conditioner.image_tokens = timed("conditioner", stv.conditioner.image_tokens)
    clip_vision.encode_image = timed("clip_vision", clip_vision.encode_image)
    start_frames = torch.rand(16, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(0))
    request = extend_request(pieces, start_frames, frames, steps, output_frames="last chunk", prefix="bench/extend")
    rss_start = high_water_bytes()
    start = time.perf_counter()
    with torch.inference_mode():
        _, path = pieces.engine.extend(request)
    total = time.perf_counter() - start
    return {"frames": frames, "seconds": total, "peak_rss": high_water_bytes(), "rss_before_run": rss_start, **timers,
            "video_bytes": os.path.getsize(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, nargs=2, default=[80, 1200])
    parser.add_argument("--steps", type=int, default=1, help="sampler steps per chunk (the loop's cost per chunk is what is measured)")
    parser.add_argument("--child", type=int)
    parser.add_argument("--models")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.models, args.steps)))
        return
    with tempfile.TemporaryDirectory() as models:
        write_tiny_models(models)
        results = []
        for frames in args.frames:
            out = subprocess.run([sys.executable, __file__, "--child", str(frames), "--models", models, "--steps", str(args.steps)], check=True,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            overhead = result["seconds"] - sum(result[k] for k in MODEL_TIMERS)
            print(f"{frames} frames: {result['seconds']:.1f} s ({frames / result['seconds']:.2f} frames/s), peak RSS "
                  f"{result['peak_rss'] / 2**20:.0f} MiB, unet {result['unet']:.1f} s, vae {result['vae']:.1f} s, "
                  f"conditioner {result['conditioner']:.1f} s, clip vision {result['clip_vision']:.1f} s, loop overhead {overhead:.2f} s")
    short, long = results
    overhead = (long["seconds"] - sum(long[k] for k in MODEL_TIMERS)) / long["seconds"]
    print(f"extend: peak_rss_ratio={long['peak_rss'] / short['peak_rss']:.3f} overhead_fraction={overhead:.4f} "
          f"frames_per_s={long['frames'] / long['seconds']:.2f} peak_rss_mib_{short['frames']}={short['peak_rss'] / 2**20:.0f} "
          f"peak_rss_mib_{long['frames']}={long['peak_rss'] / 2**20:.0f} steps={args.steps} size={SIZE}")


if __name__ == "__main__":
    main()
