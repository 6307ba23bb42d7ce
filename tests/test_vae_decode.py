"""StreamingT2V Extend decodes each chunk in float32 by default (the official run's precision): the decoded frames
condition the next chunk, so a bf16/fp16 decode's rounding compounds (bench/precision_drift.py measures it)."""
import pytest
import torch

pytestmark = pytest.mark.host


def test_a_reduced_vae_decodes_through_a_float32_copy_of_its_weights(host):
    import comfy.sd
    from helpers.fake_models import random_taesd
    video_run = host.pack_module("nodes.video_run")
    loaded = comfy.sd.VAE(sd=random_taesd(), dtype=torch.bfloat16)  # what a GPU loads
    fp32 = video_run.decoding_vae(loaded, video_run.FP32)
    assert fp32 is not loaded and fp32.vae_dtype == torch.float32 and loaded.vae_dtype == torch.bfloat16
    weights = loaded.get_sd()
    assert all(torch.equal(v.float(), weights[k].float()) for k, v in fp32.get_sd().items())  # the same weights, upcast
    assert video_run.decoding_vae(loaded, video_run.VAE_DTYPE) is loaded
    assert video_run.decoding_vae(fp32, video_run.FP32) is fp32  # already float32: no copy
    latent = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        reduced, full = loaded.decode(latent), fp32.decode(latent)
        reference = comfy.sd.VAE(sd={k: v.float() for k, v in weights.items()}, dtype=torch.float32).decode(latent)
    assert torch.equal(full, reference) and (reduced - full).abs().max() > 1e-4
