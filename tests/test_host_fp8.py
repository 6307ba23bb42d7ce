"""fp8 weights (core's fp8_e4m3fn, fp8_e4m3fn_fast, fp8_e5m2) for the StreamingT2V MODEL, its CAM and the enhancer:
stored in 8 bits, computed by the host's manual cast (fp32 on CPU), and close to bf16 on the tiny official-layout model."""
import functools

import pytest
import torch

from helpers.model_runs import loaded, sample_once

pytestmark = pytest.mark.host
FP8 = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
KINDS = ("streamingt2v", "enhancer")
# One denoiser evaluation at sigma 1, cfg 1, relative L2 distance to bf16 weights. Measured on the tiny random
# official-layout weights: e4m3fn 0.108 (UNet + CAM) and 0.125 (enhancer), e5m2 0.206 and 0.208; bf16 itself is
# 0.007 and 0.009 from fp32. 3 and 2 mantissa bits against bf16's 7: 16 and 32 times the rounding.
BOUNDS = {"fp8_e4m3fn": 0.15, "fp8_e5m2": 0.25}


@pytest.mark.parametrize("weight_dtype", list(FP8))
@pytest.mark.parametrize("kind", KINDS)
def test_fp8_weights_are_stored_in_8_bits_and_cast_per_layer(host, kind, weight_dtype):
    model, _, _, networks = loaded(host, kind, weight_dtype)
    assert {p.dtype for network in networks for p in network.parameters()} == {FP8[weight_dtype]}, "UNet and CAM in fp8"
    assert model.model.manual_cast_dtype == torch.float32  # CPU: each layer casts its weights to fp32 as it runs
    assert model.model.model_config.optimizations["fp8"] == (weight_dtype == "fp8_e4m3fn_fast")  # fp8 matmuls where the GPU has them


@functools.cache
def denoised(host, kind: str, weight_dtype: str) -> torch.Tensor:
    with torch.inference_mode():
        return sample_once(*loaded(host, kind, weight_dtype)[:3], sigma=1.0, cfg=1.0)


@pytest.mark.parametrize("weight_dtype", list(BOUNDS))
@pytest.mark.parametrize("kind", KINDS)
def test_fp8_weights_denoise_close_to_bf16(host, kind, weight_dtype):
    low, reference = denoised(host, kind, weight_dtype), denoised(host, kind, "bf16")
    error = ((low - reference).norm() / reference.norm()).item()
    assert torch.isfinite(low).all() and 0.01 < error < BOUNDS[weight_dtype], error
