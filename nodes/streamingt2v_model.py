"""StreamingT2V as host objects: the denoiser as a MODEL that runs the CAM each step, the CAM and resampler as a
separate patcher the host loads beside it, the frozen parts as CLIP, VAE and CLIP_VISION."""
from __future__ import annotations

from dataclasses import dataclass

import torch

import comfy.clip_vision
import comfy.conds
import comfy.model_management as mm
import comfy.model_patcher
import comfy.ops
import comfy.sd
from comfy_api.latest import io

from ..st2v_modules.checkpoints.reading import materialize
from ..st2v_modules.checkpoints.streamingt2v import StreamingT2VWeights, read_streamingt2v
from ..st2v_modules.models.cam import run_cam
from ..st2v_modules.models.conditioner import StreamingT2VConditioner
from ..st2v_modules.models.streaming_unet import StreamingUNet3D
from ..st2v_modules.sampling.frames import VAE_FACTOR
from .model import ModelScopeT2V, assign_weights, build_model_patcher, host_attention
from .text_encoder import load_text_encoder

CAM_OPTION = "streamingt2v_cam"  # transformer_options key through which the patched MODEL reaches its CAM
CAM_FEATURES = "stv_cam_features"  # conditioning key: the conditioning frames' CAM features


class CAMHandle:
    """The CAM as a `transformer_options` entry: `ModelPatcher.clone` deep-copies options, this stays shared."""

    def __init__(self, cam: torch.nn.Module):
        self.cam = cam

    def __deepcopy__(self, memo) -> "CAMHandle":
        return self


class HostStreamingUNet(StreamingUNet3D):
    """Runs the CAM from `transformer_options` on the current noisy frames, then the merged denoiser."""

    def forward(self, x, timesteps, context, num_frames, stv_cam_features=None, control=None, transformer_options=None):
        cam_out = None
        if stv_cam_features is not None:
            if stv_cam_features.shape[-2:] != x.shape[-2:]:
                (frames_h, frames_w), (latent_h, latent_w) = stv_cam_features.shape[-2:], x.shape[-2:]
                raise ValueError(f"The conditioning frames are {frames_w * VAE_FACTOR}x{frames_h * VAE_FACTOR} pixels but the "
                                 f"latent is {latent_w * VAE_FACTOR}x{latent_h * VAE_FACTOR}: give frames of the chunk's size.")
            handle = (transformer_options or {}).get(CAM_OPTION)
            if handle is None:
                raise ValueError("This MODEL has CAM conditioning but no CAM: use the MODEL output of StreamingT2V Conditioning.")
            cam_out = run_cam(handle.cam, x, timesteps, context, num_frames, stv_cam_features, transformer_options)
        return super().forward(x, timesteps, context, num_frames, cam_out, transformer_options)


class CAMFeatures(comfy.conds.CONDRegular):
    """Per video, not per frame: batched by concatenation, never repeated to the latent's frame count."""

    def process_cond(self, batch_size, **kwargs):
        return self


class StreamingT2VModel(ModelScopeT2V):
    network = HostStreamingUNet
    stage = None  # StreamingT2V Conditioning cuts the prompt and adds the image tokens

    def extra_conds(self, **kwargs):
        out = super().extra_conds(**kwargs)
        if kwargs.get(CAM_FEATURES) is not None:
            out[CAM_FEATURES] = CAMFeatures(kwargs[CAM_FEATURES])
        return out


@dataclass
class StreamingT2V:
    """The STREAMINGT2V output: CAM + APM resampler in their own patcher, and the checkpoint's file name."""
    patcher: comfy.model_patcher.ModelPatcher
    weights_name: str

    @property
    def conditioner(self) -> StreamingT2VConditioner:
        return self.patcher.model


StreamingT2VType = io.Custom("STREAMINGT2V")


def build_streamingt2v(weights: StreamingT2VWeights, name: str, weight_dtype: str = "default"):
    """MODEL, CLIP, VAE, CLIP_VISION (None for parts the file lacks) and the STREAMINGT2V conditioner.

    One part at a time, each read from the file only when it is built: the frozen parts first (the host copies them
    into its own modules, so each is briefly held twice), then the UNet and the CAM by assignment (held once)."""
    clip, vae, clip_vision = _text_encoder(weights), _vae(weights), _image_encoder(weights)
    unet = build_model_patcher(weights.unet, weights.unet_config, weight_dtype, StreamingT2VModel)
    dtype, manual_cast = unet.model.get_dtype(), unet.model.manual_cast_dtype
    operations = comfy.ops.pick_operations(dtype, manual_cast, fp8_optimizations=unet.model.model_config.optimizations["fp8"])
    conditioner = StreamingT2VConditioner(weights.unet_config, weights.frame_encoder_channels, weights.resampler_inner_dim,
                                          operations, dtype, device="meta", attention=host_attention(), compute_dtype=manual_cast)
    assign_weights(conditioner, {**{"cam." + k: v for k, v in weights.cam.items()},
                                 **{"resampler." + k: v for k, v in weights.resampler.items()}}, dtype)
    stv = StreamingT2V(comfy.model_patcher.ModelPatcher(conditioner, load_device=unet.load_device,
                                                        offload_device=unet.offload_device), name)
    return unet, clip, vae, clip_vision, stv


def _text_encoder(weights: StreamingT2VWeights):
    if not weights.text_encoder:
        return None
    return load_text_encoder(materialize(weights.text_encoder, mm.text_encoder_dtype(mm.text_encoder_device())))


def _vae(weights: StreamingT2VWeights):
    return comfy.sd.VAE(sd=materialize(weights.vae)) if weights.vae else None


def _image_encoder(weights: StreamingT2VWeights):
    """The OpenCLIP ViT-H vision tower (read in the host's dtype for it); its text-side leftovers (token embedding,
    ln_final, ...) are dropped."""
    visual = {k: v for k, v in weights.image_encoder.items() if k.startswith("model.visual.")}
    if not visual:
        return None
    visual = materialize(visual, mm.text_encoder_dtype(mm.text_encoder_device()))
    return comfy.clip_vision.load_clipvision_from_sd(visual, prefix="model.visual.", convert_keys=True)


def load_streamingt2v(path: str, name: str, weight_dtype: str = "default"):
    return build_streamingt2v(read_streamingt2v(path), name, weight_dtype)
