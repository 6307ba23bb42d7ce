"""The ModelScope T2V UNet3D as a ComfyUI model: eps prediction, SD's scaled-linear schedule, frames in the batch."""
from __future__ import annotations

import math

import torch

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.model_management as mm
import comfy.model_patcher
import comfy.supported_models_base
import comfy.utils

from ..st2v_modules.checkpoints.modelscope import load_unet3d_state_dict
from ..st2v_modules.models.config import UNet3DConfig
from ..st2v_modules.models.unet3d import UNet3D
from .prompts import first_block

WEIGHT_DTYPES = {"default": None, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}

# Peak activation bytes of one UNet3D forward per latent pixel (frames x h x w) per byte of the compute dtype.
# Measured by bench/unet_memory.py on the full-size model: 256x256, 16 frames, cond+uncond batched, fp32 CPU.
ACTIVATION_BYTES_PER_LATENT_PIXEL = 10652


class ModelScopeT2VConfig(comfy.supported_models_base.BASE):
    unet_extra_config = {}
    latent_format = comfy.latent_formats.SD15
    sampling_settings = {"beta_schedule": "linear", "linear_start": 0.00085, "linear_end": 0.012}
    supported_inference_dtypes = [torch.float16, torch.bfloat16, torch.float32]


class ModelScopeT2V(comfy.model_base.BaseModel):
    """Latents are `[frames, 4, H/8, W/8]` like core SVD, so core VAE and latent nodes work on them unchanged."""

    network = UNet3D
    stage = "the first chunk"  # the text-only model, named when a long prompt is cut (None: the context has image tokens)

    def __init__(self, model_config: ModelScopeT2VConfig, device=None):
        super().__init__(model_config, comfy.model_base.ModelType.EPS, device=device, unet_model=self.network)

    def extra_conds(self, **kwargs):
        if self.stage and kwargs.get("cross_attn") is not None:
            kwargs["cross_attn"] = first_block(kwargs["cross_attn"], self.stage)
        out = super().extra_conds(**kwargs)
        # cond and uncond may be batched together: the frame count, not the batch, tells videos apart
        out["num_frames"] = comfy.conds.CONDConstant(kwargs.get("video_frames", kwargs["noise"].shape[0]))
        return out

    def memory_required(self, input_shape, cond_shapes={}) -> float:
        """Measured activation peak, so the host's batching and offloading decisions fit the real model."""
        dtype = self.manual_cast_dtype or self.get_dtype()
        latent_pixels = input_shape[0] * math.prod(input_shape[2:])
        return latent_pixels * mm.dtype_size(dtype) * ACTIVATION_BYTES_PER_LATENT_PIXEL


def choose_dtype(weight_dtype: str, sd: dict[str, torch.Tensor], supported: list[torch.dtype]) -> tuple[torch.dtype, torch.dtype | None]:
    """The user's choice, else the host's (fp16/bf16 on GPU, fp32 on CPU), and the dtype to compute in if it differs."""
    dtype = WEIGHT_DTYPES[weight_dtype] or mm.unet_dtype(model_params=sum(v.numel() for v in sd.values()),
                                                         supported_dtypes=supported, weight_dtype=comfy.utils.weight_dtype(sd))
    return dtype, mm.unet_manual_cast(dtype, mm.get_torch_device(), supported)


def assign_weights(module: torch.nn.Module, sd: dict[str, torch.Tensor], dtype: torch.dtype) -> None:
    """Load a module built on the meta device by assignment: the file's tensors become its parameters, so the
    weights exist once (a tensor is cast only when its dtype differs)."""
    for key in list(sd):
        sd[key] = sd[key].to(dtype)
    module.load_state_dict(sd, strict=True, assign=True)


def build_model_patcher(sd: dict[str, torch.Tensor], unet_config: UNet3DConfig, weight_dtype: str = "default",
                        model_class: type[ModelScopeT2V] = ModelScopeT2V) -> comfy.model_patcher.ModelPatcher:
    config = ModelScopeT2VConfig({"config": unet_config})
    config.set_inference_dtype(*choose_dtype(weight_dtype, sd, config.supported_inference_dtypes))
    model = model_class(config, device="meta")
    assign_weights(model.diffusion_model, sd, config.unet_config["dtype"])
    model.device = mm.unet_offload_device()
    return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(), offload_device=model.device)


def load_modelscope_t2v(path: str, weight_dtype: str = "default") -> comfy.model_patcher.ModelPatcher:
    sd, unet_config = load_unet3d_state_dict(path)
    return build_model_patcher(sd, unet_config, weight_dtype)
