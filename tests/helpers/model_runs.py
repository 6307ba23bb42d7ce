"""Our MODELs run directly by the host's sampler, without a graph: one step of core `comfy.sample.sample`."""
from __future__ import annotations

import torch

from helpers.fake_models import DIFFUSERS_UNET, ENHANCER, STREAMINGT2V_CKPT

FRAMES, HEIGHT, WIDTH = 16, 48, 64
MODELS = ("modelscope", "streamingt2v", "enhancer")


def prompt(seed: int) -> list:
    """A CONDITIONING as CLIP Text Encode makes it, random text tokens instead of an encoder's."""
    return [[torch.randn(1, 77, 1024, generator=torch.Generator().manual_seed(seed)), {}]]


def loaded(host, kind: str, weight_dtype: str = "default"):
    """(MODEL, positive, negative, its networks) of one of our models as its loader makes it, ready for a core sampler;
    StreamingT2V's with the CAM attached and a chunk's conditioning (seeded random anchor embeddings and frames)."""
    nodes = host.nodes.NODE_CLASS_MAPPINGS
    if kind == "modelscope":
        (model,) = nodes["STV_LoadModelScopeT2V"].execute(unet_name=DIFFUSERS_UNET, weight_dtype=weight_dtype).result
        return model, prompt(1), prompt(2), [model.model.diffusion_model]
    if kind == "enhancer":
        model, _ = nodes["STV_LoadEnhancer"].execute(unet_name=ENHANCER, vae_name="none", weight_dtype=weight_dtype).result
        return model, prompt(1), prompt(2), [model.model.diffusion_model]
    conditioning = host.pack_module("nodes.conditioning")
    model, _, _, _, stv = nodes["STV_LoadStreamingT2V"].execute(ckpt_name=STREAMINGT2V_CKPT, weight_dtype=weight_dtype).result
    seeded = torch.Generator().manual_seed(5)
    tokens = stv.conditioner.image_tokens(torch.randn(2, 1024, generator=seeded), batch_size=2)
    features = conditioning.frame_features(stv, torch.rand(8, HEIGHT, WIDTH, 3, generator=seeded))
    positive, negative = (conditioning.with_chunk_conditions(p, t, features) for p, t in ((prompt(1), tokens[:1]), (prompt(2), tokens[1:])))
    return conditioning.attach_cam(model, stv), positive, negative, [model.model.diffusion_model, stv.conditioner.cam]


def sample_once(model, positive, negative, sigma: float | None = None, cfg: float = 7.5) -> torch.Tensor:
    """One euler step from seeded noise: from the top of the schedule, or from `sigma` (the result is then the
    prediction of the clean latent at that noise level)."""
    import comfy.sample
    latent = torch.zeros(FRAMES, 4, HEIGHT // 8, WIDTH // 8)
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(3))
    sigmas = None if sigma is None else torch.tensor([sigma, 0.0])
    return comfy.sample.sample(model, noise, 1, cfg, "euler", "normal", positive, negative, latent, disable_pbar=True,
                               seed=3, sigmas=sigmas)
