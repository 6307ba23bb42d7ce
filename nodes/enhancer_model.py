"""MS-Vid2Vid-XL as a ComfyUI model: the UNet3D with row-padded resampling, v-prediction on its own schedule."""
from __future__ import annotations

import torch

import comfy.model_base
import comfy.model_sampling
import comfy.sd

from ..st2v_modules.checkpoints.enhancer import load_enhancer_state_dict
from ..st2v_modules.checkpoints.reading import materialize, read_state_dict
from ..st2v_modules.models.unet3d import UNet3D
from ..st2v_modules.sampling.enhancer_schedule import sigma_to_t, vp_sigmas
from .model import ModelScopeT2V, build_model_patcher

# The zero-SNR last step has an infinite sigma; samplers and schedulers need a finite one (comfy's zsnr uses the same).
ZERO_SNR_SIGMA = 4096.0
# Peak activation bytes per latent pixel per byte of the compute dtype, measured by `bench/unet_memory.py --model
# enhancer` on the full-size UNet at 1280x720 (cond + uncond batched, fp32 CPU).
ACTIVATION_BYTES_PER_LATENT_PIXEL = 10520


class EnhancerSampling(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.V_PREDICTION):
    """The official quirks kept (spec 3.3): the UNet sees the integer step nearest the sigma, and x0 is formed with
    that step's alpha and sigma while the input scaling uses the sampler's continuous sigma."""

    def __init__(self, model_config=None):
        torch.nn.Module.__init__(self)
        self.sigma_data = 1.0
        vp = vp_sigmas()
        self.register_buffer("vp_sigmas", vp)
        edm = vp / (1 - vp**2).sqrt()
        edm[torch.isinf(edm)] = ZERO_SNR_SIGMA
        self.num_timesteps = len(vp)
        self.set_sigmas(edm)

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma_to_t(sigma.float(), self.vp_sigmas).round().to(sigma.device)

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor, model_input: torch.Tensor) -> torch.Tensor:
        t = self.timestep(sigma).long().to(self.vp_sigmas.device)
        vp = self.vp_sigmas[t].to(model_output)
        shape = (-1,) + (1,) * (model_output.ndim - 1) if vp.ndim else ()
        vp = vp.reshape(shape)
        return (1 - vp**2).sqrt() * self.calculate_input(sigma, model_input) - vp * model_output


class Vid2VidXL(ModelScopeT2V):
    """Frames in the batch like the first-chunk model; a chunk's frame count comes with the conditioning."""

    activation_bytes_per_latent_pixel = ACTIVATION_BYTES_PER_LATENT_PIXEL
    stage = "the enhancer"

    def __init__(self, model_config, device=None):
        comfy.model_base.BaseModel.__init__(self, model_config, comfy.model_base.ModelType.V_PREDICTION, device=device,
                                            unet_model=UNet3D)
        self.model_sampling = EnhancerSampling()


def load_enhancer(path: str, weight_dtype: str = "default"):
    sd, config = load_enhancer_state_dict(path)
    return build_model_patcher(sd, config, weight_dtype, model_class=Vid2VidXL)


def load_vae(path: str) -> comfy.sd.VAE:
    """A VAE file, or the VAE inside a full SD checkpoint (the enhancer's v2-1_512-ema-pruned.ckpt), via the host. The
    file is memory-mapped and only the VAE's tensors are read."""
    sd = read_state_dict(path)
    prefix = "first_stage_model."
    if any(k.startswith(prefix) for k in sd):
        sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    return comfy.sd.VAE(sd=materialize(sd))
