"""Input definitions several nodes share, so one setting reads the same wherever it appears."""
from __future__ import annotations

from comfy_api.latest import io

from .model import WEIGHT_DTYPES

OFFICIAL_CFG = 7.5  # stage 2 and the enhancer both guide with 7.5
OFFICIAL_FPS = 8.0  # the frame rate of the official stage-2 and enhanced videos
WEIGHT_DTYPE_TOOLTIP = ("default: fp16/bf16 on GPU, fp32 on CPU, as ComfyUI decides (bf16 weights computed in fp32 for the full-size "
                        "models on a CPU with less than 32 GB of RAM). Force one to trade memory against precision: "
                        "fp8_* keep the weights in 8 bits (half of fp16) and compute layer by layer in fp16/bf16/fp32; "
                        "fp8_e4m3fn_fast also multiplies in fp8 on GPUs that can (as core Load Diffusion Model).")


def cfg_input() -> io.Float.Input:
    return io.Float.Input("cfg", default=OFFICIAL_CFG, min=0.0, max=100.0, step=0.1, round=0.01, tooltip="Guidance (official: 7.5).")


def fps_input() -> io.Float.Input:
    return io.Float.Input("fps", default=OFFICIAL_FPS, min=1.0, max=120.0, step=1.0, tooltip="Frame rate of the file (StreamingT2V: 8).")


def weight_dtype_input() -> io.Combo.Input:
    return io.Combo.Input("weight_dtype", options=list(WEIGHT_DTYPES), default="default", tooltip=WEIGHT_DTYPE_TOOLTIP)
