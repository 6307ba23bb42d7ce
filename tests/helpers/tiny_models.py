"""Tiny random models written in the layouts users download, made at test time (seconds on CPU)."""
from __future__ import annotations

import importlib.util
import json
import os

import torch
from safetensors.torch import save_file

from st2v_modules.models.config import UNet3DConfig
from st2v_modules.models.unet3d import UNet3D

# every block type, 2+ heads per attention, cross-attention width of the real text encoder
TINY_DIFFUSERS_CONFIG = {
    "in_channels": 4, "out_channels": 4, "block_out_channels": [32, 64, 64], "layers_per_block": 2,
    "down_block_types": ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"],
    "up_block_types": ["UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"],
    "attention_head_dim": 16, "cross_attention_dim": 1024, "norm_num_groups": 32,
}
TINY_CONFIG = UNet3DConfig.from_diffusers(TINY_DIFFUSERS_CONFIG)
# ModelScope's own UNetSD at tiny size: it hard-codes 32 norm groups and a 1024-wide context
TINY_UNETSD_KWARGS = dict(in_dim=4, dim=32, y_dim=64, context_dim=1024, out_dim=4, dim_mult=[1, 2], num_heads=8,
                          head_dim=16, num_res_blocks=2, attn_scales=[1, 0.5], dropout=0.1, temporal_attention=True)
# MS-Vid2Vid-XL at tiny size: attention at the first two of three levels, heads of 16, its row-padded resampling
TINY_ENHANCER_UNETSD_KWARGS = dict(in_dim=4, dim=32, y_dim=1024, context_dim=1024, out_dim=4, dim_mult=[1, 1, 2], num_heads=4,
                                   head_dim=16, num_res_blocks=2, attn_scales=[1, 0.5], dropout=0.1, temporal_attn_times=1,
                                   temporal_attention=True)
TINY_ENHANCER_CONFIG = UNet3DConfig(block_out_channels=(32, 32, 64), down_block_types=("CrossAttnDownBlock3D",) * 2 + ("DownBlock3D",),
                                    up_block_types=("UpBlock3D",) + ("CrossAttnUpBlock3D",) * 2, attention_head_dim=16,
                                    transformer_in_heads=4, row_padded_resampling=True)


def randomize(module: torch.nn.Module, seed: int, std: float = 0.05) -> torch.nn.Module:
    """Perturb every parameter so zero-initialised layers carry signal too."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * std)
    return module.eval()


def tiny_unet(seed: int = 0) -> UNet3D:
    torch.manual_seed(seed)
    return randomize(UNet3D(TINY_CONFIG), seed)


def write_diffusers_unet(folder: str, unet: UNet3D) -> str:
    """`<folder>/unet/{config.json, diffusion_pytorch_model.safetensors}` as diffusers saves it."""
    unet_dir = os.path.join(folder, "unet")
    os.makedirs(unet_dir, exist_ok=True)
    with open(os.path.join(unet_dir, "config.json"), "w") as f:
        json.dump({"_class_name": "UNet3DConditionModel", **TINY_DIFFUSERS_CONFIG}, f)
    path = os.path.join(unet_dir, "diffusion_pytorch_model.safetensors")
    save_file(unet.state_dict(), path)
    return path


def write_single_file(path: str, unet: UNet3D, dtype: torch.dtype = torch.float32, prefix: str = "") -> str:
    save_file({prefix + k: v.to(dtype).contiguous() for k, v in unet.state_dict().items()}, path)
    return path


def modelscope_unetsd_class():
    """The original ModelScope `UNetSD`, imported from the modelscope package's file alone (a test-only oracle)."""
    import modelscope
    path = os.path.join(os.path.dirname(modelscope.__file__), "models/multi_modal/video_synthesis/unet_sd.py")
    spec = importlib.util.spec_from_file_location("modelscope_unet_sd", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.UNetSD


def write_modelscope_unet(folder: str, seed: int = 0) -> tuple[str, torch.nn.Module]:
    """`<folder>/text2video_pytorch_model.pth` from a tiny original UNetSD; returns the path and the network."""
    torch.manual_seed(seed)
    net = randomize(modelscope_unetsd_class()(**TINY_UNETSD_KWARGS), seed)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "text2video_pytorch_model.pth")
    torch.save(net.state_dict(), path)
    return path, net


def to_frames_in_batch(video: torch.Tensor) -> torch.Tensor:
    """[B, C, F, H, W] -> [B*F, C, H, W]."""
    return video.transpose(1, 2).flatten(0, 1)


def to_video(frames: torch.Tensor, num_frames: int) -> torch.Tensor:
    """[B*F, C, H, W] -> [B, C, F, H, W]."""
    return frames.unflatten(0, (-1, num_frames)).transpose(1, 2)
