"""The ModelScope T2V UNet3D as a ComfyUI model: eps prediction, SD's scaled-linear schedule, frames in the batch."""
from __future__ import annotations

import math

import torch

import comfy.cli_args
import comfy.conds
import comfy.latent_formats
import comfy.ldm.modules.attention
import comfy.model_base
import comfy.model_management as mm
import comfy.model_patcher
import comfy.supported_models_base
import comfy.utils

from ..st2v_modules.checkpoints.modelscope import load_unet3d_state_dict
from ..st2v_modules.checkpoints.reading import materialize
from ..st2v_modules.models.config import UNet3DConfig
from ..st2v_modules.models.unet3d import UNet3D
from .prompts import first_block

FP8_FAST = "fp8_e4m3fn_fast"  # core's name: fp8 weights, and fp8 matrix products on GPUs that have them
WEIGHT_DTYPES = {"default": None, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32,
                 "fp8_e4m3fn": torch.float8_e4m3fn, FP8_FAST: torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}

# Peak activation bytes of one UNet3D forward per latent pixel (frames x h x w) per byte of the compute dtype.
# Measured by bench/unet_memory.py on the full-size model: 256x256, 16 frames, cond+uncond batched, fp32 CPU.
ACTIVATION_BYTES_PER_LATENT_PIXEL = 10652
# A CPU with less RAM than this keeps full-size weights in bf16 (computed in fp32) by default: in fp32 the StreamingT2V,
# ModelScope and enhancer weights alone take about 22 GB; in bf16 about 12 GB.
LOW_RAM_BYTES = 32 * 2**30
FULL_SIZE_PARAMS = 10**9  # the real UNets (1.4-2.1 B); tiny and test models keep the host's choice


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

    activation_bytes_per_latent_pixel = ACTIVATION_BYTES_PER_LATENT_PIXEL

    def memory_required(self, input_shape, cond_shapes={}) -> float:
        """Measured activation peak, so the host's batching and offloading decisions fit the real model. Latent pixels
        are frames x height x width whatever the layout (`[frames, C, h, w]`, `[batch, frames, C, h, w]`, ...)."""
        dtype = self.manual_cast_dtype or self.get_dtype()
        latent_pixels = math.prod(input_shape) // self.model_config.unet_config["config"].in_channels
        return latent_pixels * mm.dtype_size(dtype) * self.activation_bytes_per_latent_pixel


def host_attention():
    """The attention the host chose (sage, flash, xformers, PyTorch, split or sub-quadratic, by its command line); it
    applies attention-override patches from `transformer_options`."""
    return comfy.ldm.modules.attention.optimized_attention


def choose_dtype(weight_dtype: str, sd: dict[str, torch.Tensor], supported: list[torch.dtype]) -> tuple[torch.dtype, torch.dtype | None]:
    """The user's choice, else the host's (fp16/bf16 on GPU, fp32 on CPU; bf16 for a full-size model on a CPU with
    less than LOW_RAM_BYTES), and the dtype to compute in if it differs."""
    params = sum(v.numel() for v in sd.values())
    dtype = WEIGHT_DTYPES[weight_dtype] or mm.unet_dtype(model_params=params, supported_dtypes=supported,
                                                         weight_dtype=comfy.utils.weight_dtype(sd))
    if WEIGHT_DTYPES[weight_dtype] is None and dtype == torch.float32 and low_ram_cpu(params) and torch.bfloat16 in supported:
        dtype = torch.bfloat16
    return dtype, mm.unet_manual_cast(dtype, mm.get_torch_device(), supported)


def low_ram_cpu(params: int) -> bool:
    """A full-size model computed on a CPU whose RAM cannot hold the pipeline in fp32 (unless --fp32-unet asks for it)."""
    device = mm.get_torch_device()
    return (params >= FULL_SIZE_PARAMS and mm.is_device_cpu(device) and not comfy.cli_args.args.fp32_unet
            and mm.get_total_memory(device) < LOW_RAM_BYTES)


def assign_weights(module: torch.nn.Module, sd: dict[str, torch.Tensor], dtype: torch.dtype) -> None:
    """Load a module built on the meta device by assignment: each tensor is read from the file in `dtype` and becomes
    a parameter, and its file pages are released, so the weights exist once and loading costs one tensor more."""
    module.load_state_dict(materialize(sd, dtype), strict=True, assign=True)


def build_model_patcher(sd: dict[str, torch.Tensor], unet_config: UNet3DConfig, weight_dtype: str = "default",
                        model_class: type[ModelScopeT2V] = ModelScopeT2V) -> comfy.model_patcher.ModelPatcher:
    config = ModelScopeT2VConfig({"config": unet_config, "attention": host_attention()})
    config.set_inference_dtype(*choose_dtype(weight_dtype, sd, config.supported_inference_dtypes))
    config.optimizations["fp8"] = weight_dtype == FP8_FAST
    model = model_class(config, device="meta")
    assign_weights(model.diffusion_model, sd, config.unet_config["dtype"])
    model.device = mm.unet_offload_device()
    return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(), offload_device=model.device)


def load_modelscope_t2v(path: str, weight_dtype: str = "default") -> comfy.model_patcher.ModelPatcher:
    sd, unet_config = load_unet3d_state_dict(path)
    return build_model_patcher(sd, unet_config, weight_dtype)
