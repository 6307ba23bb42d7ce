"""Tiny StreamingT2V checkpoints in the official key layout, built at run time from our own modules.

The trained parts (`base_model.` the UNet, `unet.` the CAM, `resampler.` the APM resampler) are tiny and
re-randomised with a seeded generator; the complete checkpoint adds the frozen parts (`text_encoder.`, `vae.`,
`image_encoder.`) at the real shapes, so workflows can wire Load StreamingT2V's own CLIP, VAE and CLIP_VISION
outputs as users do. Only the parity tests need the official fixtures; these weights need nothing.
"""
from __future__ import annotations

import functools
import os
import shutil

import torch
from safetensors.torch import save_file

from helpers.fake_models import open_clip_vit_h14_shapes, random_like_shapes, text_encoder_shapes, vae_shapes
from st2v_modules.checkpoints.streamingt2v import streamingt2v_from_state_dict
from st2v_modules.models.apm import ImageResampler
from st2v_modules.models.cam import CAM
from st2v_modules.models.config import CROSS_ATTN_DOWN, CROSS_ATTN_UP, PLAIN_DOWN, PLAIN_UP, UNet3DConfig
from st2v_modules.models.streaming_unet import StreamingUNet3D

COMPLETE_STREAMINGT2V = "streaming_t2v_complete_tiny.safetensors"
FROZEN_PREFIXES = ("text_encoder.", "vae.", "image_encoder.model.")
BYTES_NEEDED = 3 * 2**30  # 2.2 GB of fp16 random weights, with room to spare

# The official code's hard-coded sizes stay (1024-wide context, 2 layers per block for the mergers, the CAM's
# x8 frame encoder); the rest is as small as they allow: 64 channels, heads of 8, a 4-wide resampler.
TINY_STREAMINGT2V_CONFIG = UNet3DConfig(block_out_channels=(64, 64), down_block_types=(CROSS_ATTN_DOWN, PLAIN_DOWN),
                                        up_block_types=(PLAIN_UP, CROSS_ATTN_UP), attention_head_dim=8)
TINY_FRAME_ENCODER_CHANNELS = (16, 16, 32, 32)
TINY_RESAMPLER_INNER_DIM = 4


def tiny_official_weights(seed: int = 0) -> dict[str, torch.Tensor]:
    """The trained parts of a tiny streaming_t2v.ckpt (`checkpoint["state_dict"]`), fp32; a new dict each call."""
    return dict(_tiny_official_weights(seed))


@functools.cache
def _tiny_official_weights(seed: int) -> dict[str, torch.Tensor]:
    modules = {"base_model.": StreamingUNet3D(TINY_STREAMINGT2V_CONFIG),
               "unet.": CAM(TINY_STREAMINGT2V_CONFIG, TINY_FRAME_ENCODER_CHANNELS),
               "resampler.": ImageResampler(TINY_RESAMPLER_INNER_DIM)}
    sd = {prefix + k: v for prefix, module in modules.items() for k, v in module.state_dict().items()}
    return rerandomize(sd, seed)


def rerandomize(sd: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Every tensor drawn anew, in sorted key order from one generator, the zero-initialised ones (CAM output conv,
    merger projections, temporal conv tails, APM gates) included, so a loader that drops or swaps any tensor shows:
    matrices and kernels N(0, 1/fan_in), norm scales 1 + 0.2 N, biases 0.1 N, scalar gates U(0.5, 1.5)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key in sorted(sd):
        shape = sd[key].shape
        if len(shape) >= 2:
            out[key] = torch.randn(shape, generator=g) / shape[1:].numel() ** 0.5
        elif key.endswith("bias"):
            out[key] = 0.1 * torch.randn(shape, generator=g)
        elif shape.numel() == 1:
            out[key] = 0.5 + torch.rand(shape, generator=g)
        else:
            out[key] = 1 + 0.2 * torch.randn(shape, generator=g)
    return out


def official_modules(weights: dict[str, torch.Tensor]) -> tuple[StreamingUNet3D, CAM, ImageResampler]:
    """StreamingUNet3D, CAM and resampler in eval mode, loaded from official-layout weights through the real loader."""
    w = streamingt2v_from_state_dict(weights, "tiny streaming_t2v.ckpt")
    modules = StreamingUNet3D(w.unet_config), CAM(w.unet_config, w.frame_encoder_channels), ImageResampler(w.resampler_inner_dim)
    for module, sd in zip(modules, (w.unet, w.cam, w.resampler)):
        module.load_state_dict(sd, strict=True)
        module.eval()
    return modules


def frozen_shapes() -> dict[str, torch.Size]:
    """The frozen parts of the real streaming_t2v.ckpt, key for key: transformers' CLIPTextModel of the OpenCLIP
    ViT-H text tower, diffusers' SD VAE, and the open_clip ViT-H/14 model whose text transformer was deleted."""
    parts = {"text_encoder.": text_encoder_shapes(), "vae.": vae_shapes(), "image_encoder.model.": open_clip_vit_h14_shapes()}
    return {prefix + k: s for prefix, shapes in parts.items() for k, s in shapes.items()}


def write_complete_streamingt2v(models_dir: str) -> str:
    """`models/streamingt2v/<COMPLETE_STREAMINGT2V>` (written once per models folder); returns its name.

    Trained parts: `tiny_official_weights()`. Frozen parts: fp16 random weights of the shapes the real
    streaming_t2v.ckpt has (OpenCLIP ViT-H text tower, SD VAE, OpenCLIP ViT-H/14 image encoder), same key names.
    """
    path = os.path.join(models_dir, "streamingt2v", COMPLETE_STREAMINGT2V)
    if os.path.isfile(path):
        return COMPLETE_STREAMINGT2V
    free = shutil.disk_usage(models_dir).free
    if free < BYTES_NEEDED:
        raise OSError(f"{models_dir} has {free / 2**30:.1f} GiB free; the complete test checkpoint needs {BYTES_NEEDED / 2**30:.0f} GiB.")
    save_file({**tiny_official_weights(), **random_like_shapes(frozen_shapes(), seed=4)}, path + ".part")
    os.replace(path + ".part", path)
    return COMPLETE_STREAMINGT2V
