"""What the host's attention choice does on our UNet3D: the same mid-size model and input (bench/unet_forward.py's)
run with each attention function of the pinned ComfyUI against st2v_modules' own SDPA, fp32 CPU, interleaved runs.

Inside ComfyUI every attention of our models runs `optimized_attention`, the function main.py's flags pick
(--use-pytorch-cross-attention, --use-split-cross-attention, --use-quad-cross-attention, sage, flash, xformers; on a
CPU without flags: sub-quadratic). Prints `attention: host_default=... <name>_time_ratio=... max_abs_diff=...` last
(ratios: time per forward over SDPA's).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

from unet_forward import FRAMES, MID_CONFIG, inputs  # noqa: E402

HOST_FUNCTIONS = ("attention_pytorch", "attention_sub_quad", "attention_split", "attention_basic")


def host_attention_module():
    """comfy.ldm.modules.attention of the ComfyUI at COMFYUI_PATH, imported without parsing this command line."""
    sys.path.insert(0, os.environ["COMFYUI_PATH"])
    import comfy.options
    comfy.options.enable_args_parsing(False)
    from comfy.cli_args import args
    args.cpu = True
    import comfy.ldm.modules.attention
    return comfy.ldm.modules.attention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from st2v_modules.models.attention import sdpa_attention
    from st2v_modules.models.config import UNet3DConfig
    from st2v_modules.models.unet3d import UNet3D
    host = host_attention_module()
    functions = {"sdpa": sdpa_attention, **{name[len("attention_"):]: getattr(host, name) for name in HOST_FUNCTIONS}}
    torch.manual_seed(0)
    state = UNet3D(UNet3DConfig.from_diffusers(MID_CONFIG)).state_dict()
    models = {}
    for name, function in functions.items():
        models[name] = UNet3D(UNet3DConfig.from_diffusers(MID_CONFIG), attention=function).eval()
        models[name].load_state_dict(state)
    video, t, context = inputs()
    x = video.transpose(1, 2).flatten(0, 1)
    times, outputs = {name: [] for name in models}, {}
    with torch.inference_mode():
        for name, model in models.items():  # warm-up, and the outputs compared
            outputs[name] = model(x, t, context, num_frames=FRAMES)
        for _ in range(args.repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(x, t, context, num_frames=FRAMES)
                times[name].append(time.perf_counter() - start)
    seconds = {name: statistics.median(values) for name, values in times.items()}
    for name in models:
        print(f"{name}: {seconds[name]:.3f} s/forward, max |out - sdpa| {(outputs[name] - outputs['sdpa']).abs().max().item():.2e}")
    default = host.optimized_attention.__name__[len("attention_"):]
    ratios = " ".join(f"{name}_time_ratio={seconds[name] / seconds['sdpa']:.3f}" for name in models if name != "sdpa")
    worst = max((outputs[name] - outputs["sdpa"]).abs().max().item() for name in models)
    print(f"attention: host_default={default} {ratios} sdpa_s={seconds['sdpa']:.3f} max_abs_diff={worst:.2e}")


if __name__ == "__main__":
    main()
