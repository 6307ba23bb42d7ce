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

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]
SIZE = 256
MODEL_TIMERS = ("unet", "vae", "conditioner", "clip_vision")


def high_water_bytes() -> int:
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))


def measure(frames: int, models_dir: str, steps: int) -> dict:
    import torch
    import host as test_host
    base = test_host.make_base_directory()
    os.rmdir(os.path.join(base, "models"))
    os.symlink(models_dir, os.path.join(base, "models"))
    h = test_host.Host(test_host.find_comfyui(), base)
    import comfy.clip_vision
    import comfy.samplers
    import comfy.sd
    import comfy.taesd.taesd
    from fake_models import CLIP_VISION, STREAMINGT2V_CKPT, random_like_shapes
    engine = h.pack_module("nodes.extend_engine")
    model, _, _, _, stv = h.pack_module("nodes.streamingt2v_model").load_streamingt2v(
        os.path.join(models_dir, "streamingt2v", STREAMINGT2V_CKPT), STREAMINGT2V_CKPT)
    clip_vision = comfy.clip_vision.load(os.path.join(models_dir, "clip_vision", CLIP_VISION))
    decoder = {"taesd_decoder." + k: v.float() for k, v in random_like_shapes(
        {k: v.shape for k, v in comfy.taesd.taesd.TAESD().taesd_decoder.state_dict().items()}, seed=4, std=0.1).items()}
    vae = comfy.sd.VAE(sd=decoder)

    timers = {"unet": 0.0, "vae": 0.0, "conditioner": 0.0, "clip_vision": 0.0}

    def timed(name, fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            timers[name] += time.perf_counter() - start
            return out
        return run

    model = model.clone()
    model.set_model_unet_function_wrapper(lambda apply, args: timed("unet", apply)(args["input"], args["timestep"], **args["c"]))
    vae.decode = timed("vae", vae.decode)
    stv.conditioner.frame_features = timed("conditioner", stv.conditioner.frame_features)
    stv.conditioner.image_tokens = timed("conditioner", stv.conditioner.image_tokens)
    clip_vision.encode_image = timed("clip_vision", clip_vision.encode_image)
    context = [[torch.zeros(1, 77, 1024), {}]]
    start_frames = torch.rand(16, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(0))
    sampling = engine.Sampling(comfy.samplers.sampler_object("euler_ancestral"), engine.official_ddim_sigmas(model, steps),
                               7.5, engine.seeded_noise(33, shared=False), official_ddim=True)
    request = engine.Request(model=model, streamingt2v=stv, positive=context, negative=context, clip_vision=clip_vision, vae=vae,
                             start=start_frames, frames_to_add=frames - 16, sampling=sampling, filename_prefix="bench/extend",
                             output_frames="last chunk", seed=33)
    rss_start = high_water_bytes()
    start = time.perf_counter()
    with torch.inference_mode():
        _, path = engine.extend(request)
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
    from fake_models import write_streamingt2v_files
    with tempfile.TemporaryDirectory() as models:
        os.makedirs(os.path.join(models, "streamingt2v"))
        write_streamingt2v_files(models)
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
