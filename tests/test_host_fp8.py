"""fp8 weights (core's fp8_e4m3fn, fp8_e4m3fn_fast, fp8_e5m2) for the StreamingT2V MODEL, its CAM and the enhancer:
stored in 8 bits, computed by the host's manual cast (fp32 on CPU), and close to bf16 on the tiny official-layout model."""
import functools

import pytest
import torch

from helpers.model_runs import loaded, sample_once

pytestmark = pytest.mark.host
FP8 = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
KINDS = ("streamingt2v", "enhancer")
# fp8 keeps 3 (e4m3fn) or 2 (e5m2) mantissa bits against bf16's 7: its rounding is 2^4 or 2^5 times bf16's, and so,
# to first order, is its distance from the fp32 result. Measured (one denoiser evaluation at sigma 1, cfg 1, relative
# L2 distance from fp32 weights, tiny random official-layout weights): e4m3fn 0.109 (UNet + CAM) and 0.161 (enhancer),
# e5m2 0.209 and 0.255, bf16 0.0069 and 0.0108: ratios 15.8 and 14.9 (expected 16), 30.2 and 23.7 (expected 32).
# The bound allows 2x either way, so it holds for any random weights rather than one draw's figure.
MANTISSA_BITS = {"fp8_e4m3fn": 3, "fp8_e5m2": 2}
BF16_MANTISSA_BITS = 7


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


@pytest.mark.parametrize("weight_dtype", list(MANTISSA_BITS))
@pytest.mark.parametrize("kind", KINDS)
def test_fp8_weights_denoise_as_far_from_fp32_as_their_mantissa_says(host, kind, weight_dtype):
    exact = denoised(host, kind, "fp32")
    distance = {w: ((denoised(host, kind, w) - exact).norm() / exact.norm()).item() for w in (weight_dtype, "bf16")}
    expected = 2.0 ** (BF16_MANTISSA_BITS - MANTISSA_BITS[weight_dtype])
    ratio = distance[weight_dtype] / distance["bf16"]
    assert torch.isfinite(denoised(host, kind, weight_dtype)).all()
    assert 0 < distance["bf16"] < 0.05 and expected / 2 < ratio < expected * 2, (distance, ratio)
