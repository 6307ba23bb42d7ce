"""Our UNet3D forward against diffusers' UNet3DConditionModel: same weights, same input, fp32 CPU, same threads.

Each implementation runs in its own subprocess so peak memory is not shared; peak is the highest
resident-set size above the level just before the forward, sampled every 0.2 ms.
Prints `unet_forward: time_ratio=... peak_memory_ratio=...` (ours / diffusers) as the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

MID_CONFIG = {
    "in_channels": 4, "out_channels": 4, "block_out_channels": [64, 128, 256, 256], "layers_per_block": 2,
    "down_block_types": ["CrossAttnDownBlock3D"] * 3 + ["DownBlock3D"],
    "up_block_types": ["UpBlock3D"] + ["CrossAttnUpBlock3D"] * 3,
    "attention_head_dim": 32, "cross_attention_dim": 1024, "norm_num_groups": 32,
}
FRAMES, HEIGHT, WIDTH, CFG_BATCH = 16, 32, 32, 2  # one 256x256 chunk with cond and uncond


class PeakRSS:
    """Highest RSS above the starting level while the block runs."""

    def __enter__(self):
        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.start = self.process.memory_info().rss
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss - self.start)
            time.sleep(0.0002)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def inputs():
    g = torch.Generator().manual_seed(0)
    video = torch.randn(CFG_BATCH, 4, FRAMES, HEIGHT, WIDTH, generator=g)
    return video, torch.tensor([981.0, 981.0]), torch.randn(CFG_BATCH, 77, 1024, generator=g)


def build(which: str, weights: str):
    from safetensors.torch import load_file
    sd = load_file(weights)
    if which == "diffusers":
        from diffusers import UNet3DConditionModel
        model = UNet3DConditionModel(**MID_CONFIG)
        run = lambda v, t, c: model(v, t, c).sample  # noqa: E731
    else:
        from st2v_modules.models.config import UNet3DConfig
        from st2v_modules.models.unet3d import UNet3D
        model = UNet3D(UNet3DConfig.from_diffusers(MID_CONFIG))
        run = lambda v, t, c: model(v.transpose(1, 2).flatten(0, 1), t, c, num_frames=FRAMES)  # noqa: E731
    model.load_state_dict(sd)
    return model.eval(), run


def measure(which: str, weights: str, threads: int, repeats: int) -> dict:
    torch.set_num_threads(threads)
    _, run = build(which, weights)
    video, t, context = inputs()
    with torch.inference_mode():
        with PeakRSS() as peak:  # first call: the peak, before the allocator has cached anything
            run(video, t, context)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run(video, t, context)
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "peak_bytes": peak.peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=["ours", "diffusers"])
    parser.add_argument("--weights")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.weights, args.threads, args.repeats)))
        return
    from diffusers import UNet3DConditionModel
    from safetensors.torch import save_file
    torch.manual_seed(0)
    reference = UNet3DConditionModel(**MID_CONFIG)
    params = sum(p.numel() for p in reference.parameters())
    with tempfile.TemporaryDirectory() as folder:
        weights = os.path.join(folder, "mid.safetensors")
        save_file(reference.state_dict(), weights)
        del reference
        results = {}
        for which in ("diffusers", "ours"):
            out = subprocess.run([sys.executable, __file__, "--child", which, "--weights", weights, "--threads", str(args.threads),
                                  "--repeats", str(args.repeats)], check=True, capture_output=True, text=True)
            results[which] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{which}: {results[which]['seconds']:.3f} s/forward, peak +{results[which]['peak_bytes'] / 2**20:.0f} MiB")
    ours, theirs = results["ours"], results["diffusers"]
    print(f"config: {params / 1e6:.0f}M params, {CFG_BATCH}x{FRAMES} frames of {HEIGHT}x{WIDTH} latents, fp32 CPU, {args.threads} threads")
    print(f"unet_forward: time_ratio={ours['seconds'] / theirs['seconds']:.3f} "
          f"peak_memory_ratio={ours['peak_bytes'] / theirs['peak_bytes']:.3f} "
          f"ours_s={ours['seconds']:.3f} diffusers_s={theirs['seconds']:.3f} "
          f"ours_peak_mib={ours['peak_bytes'] / 2**20:.0f} diffusers_peak_mib={theirs['peak_bytes'] / 2**20:.0f}")


if __name__ == "__main__":
    main()
