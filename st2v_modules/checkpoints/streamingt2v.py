"""Split the official `streaming_t2v.ckpt` (or a re-saved / repacked copy) into its components.

Official prefixes (spec 4.1): `base_model.` the denoising UNet (fine-tuned: it must come from this
file), `unet.` the CAM, `resampler.` the APM resampler, and the frozen `image_encoder.`,
`text_encoder.`, `vae.`. A third-party fp16 repack names the parts the other way round:
`unet.` the denoiser and `controlnet.` the CAM, in one file or in sub-folders of those names.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch

from ..models.apm import ImageResampler
from ..models.cam import CAM
from ..models.config import UNet3DConfig
from ..models.streaming_unet import StreamingUNet3D
from .errors import CheckpointError
from .modelscope import describe, infer_config, strip_prefix
from .reading import check_state_dict, read_state_dict

OFFICIAL_PARTS = {"base_model.": "unet", "unet.": "cam", "resampler.": "resampler", "image_encoder.": "image_encoder",
                  "text_encoder.": "text_encoder", "vae.": "vae"}
REPACK_PARTS = {"unet.": "unet", "controlnet.": "cam", "resampler.": "resampler", "image_encoder.": "image_encoder",
                "text_encoder.": "text_encoder", "vae.": "vae"}
IGNORED_KEYS = re.compile(r"text_encoder\.text_model\.embeddings\.position_ids$|image_encoder\.(model\.)?(mean|std)$")
EXPECTED = "the StreamingT2V checkpoint (streaming_t2v.ckpt, or a .safetensors converted from it)"
TRAINED_PARTS = ("unet", "cam", "resampler")


@dataclass
class StreamingT2VWeights:
    """Tensors per component, keys without their prefix, plus the configs read off their shapes."""
    unet: dict[str, torch.Tensor]
    cam: dict[str, torch.Tensor]
    resampler: dict[str, torch.Tensor]
    image_encoder: dict[str, torch.Tensor]
    text_encoder: dict[str, torch.Tensor]
    vae: dict[str, torch.Tensor]
    unet_config: UNet3DConfig
    frame_encoder_channels: tuple[int, ...]
    resampler_inner_dim: int

    def modules_on_meta(self) -> tuple[StreamingUNet3D, CAM, ImageResampler]:
        return (StreamingUNet3D(self.unet_config, device="meta"),
                CAM(self.unet_config, self.frame_encoder_channels, device="meta"),
                ImageResampler(self.resampler_inner_dim, device="meta"))


def read_streamingt2v(path: str) -> StreamingT2VWeights:
    """Read a file (or a repack folder), split it and check every trained key against the modules."""
    sd = _read_folder(path) if os.path.isdir(path) else read_state_dict(path)
    return streamingt2v_from_state_dict(sd, os.path.basename(path.rstrip("/")))


def streamingt2v_from_state_dict(sd: dict[str, torch.Tensor], name: str) -> StreamingT2VWeights:
    parts = split_parts(sd, name)
    weights = _with_configs(parts, name)
    for part, module in zip(TRAINED_PARTS, weights.modules_on_meta()):
        check_part(getattr(weights, part), module, part, name)
    return weights


def _read_folder(path: str) -> dict[str, torch.Tensor]:
    """Sub-folders named after the parts, each with one weights file."""
    sd = {}
    for part in sorted(set(REPACK_PARTS) | set(OFFICIAL_PARTS)):
        folder = os.path.join(path, part.rstrip("."))
        files = sorted(f for f in os.listdir(folder) if f.endswith((".safetensors", ".bin", ".pth"))) if os.path.isdir(folder) else []
        if files:
            sd.update({part + k: v for k, v in read_state_dict(os.path.join(folder, files[0])).items()})
    if not sd:
        raise CheckpointError(f"No StreamingT2V weights in folder {path}; expected {EXPECTED}.")
    return sd


def split_parts(sd: dict[str, torch.Tensor], name: str) -> dict[str, dict[str, torch.Tensor]]:
    repack = any(k.startswith("controlnet.") for k in sd)
    layout = REPACK_PARTS if repack else OFFICIAL_PARTS
    parts: dict[str, dict[str, torch.Tensor]] = {p: {} for p in layout.values()}
    unexpected = []
    for key, tensor in sd.items():
        prefix = next((p for p in layout if key.startswith(p)), None)
        if prefix is None:
            unexpected.append(key)
        elif not IGNORED_KEYS.match(key):
            parts[layout[prefix]][key[len(prefix):]] = tensor
    if not parts["unet"] or not parts["cam"]:
        raise CheckpointError(f"{name} looks like {_describe(sd)}; expected {EXPECTED} "
                              f"({len(parts['unet'])} UNet and {len(parts['cam'])} CAM tensors found).")
    if unexpected:
        raise CheckpointError(f"{name}: {len(unexpected)} keys belong to no StreamingT2V component (e.g. {unexpected[:3]}); "
                              f"expected {EXPECTED}.")
    return parts


def _describe(sd: dict[str, torch.Tensor]) -> str:
    kind = describe(strip_prefix(sd))
    return {"diffusers": "a ModelScope T2V UNet (diffusers layout); load it with Load ModelScope T2V Model",
            "modelscope": "a ModelScope T2V UNet (original layout); load it with Load ModelScope T2V Model"}.get(kind, kind)


def _with_configs(parts: dict[str, dict[str, torch.Tensor]], name: str) -> StreamingT2VWeights:
    unet = parts["unet"]
    plain = {k: v for k, v in unet.items() if not k.startswith("cross_attention_merger")}
    config = infer_config(plain)
    cam = parts["cam"]
    try:
        encoder = sorted((int(m.group(1)), v) for k, v in cam.items()
                         if (m := re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.weight$", k)))
        channels = (cam["controlnet_cond_embedding.conv_in.weight"].shape[0],) + tuple(w.shape[0] for i, w in encoder if i % 2)
        inner = parts["resampler"]["context_embedding.0.weight"].shape[0]
    except KeyError as e:
        raise CheckpointError(f"{name} misses {e} of the CAM frame encoder or the APM resampler; expected {EXPECTED}.") from None
    return StreamingT2VWeights(**parts, unet_config=config, frame_encoder_channels=channels, resampler_inner_dim=inner)


def to_official_state_dict(weights: StreamingT2VWeights, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Back to the official key names (what `read_streamingt2v` reads), optionally cast, ready for safetensors."""
    prefix_of = {part: prefix for prefix, part in OFFICIAL_PARTS.items()}
    return {prefix_of[part] + k: (v.to(dtype) if dtype and v.is_floating_point() else v).contiguous()
            for part in prefix_of for k, v in getattr(weights, part).items()}


def check_part(sd: dict[str, torch.Tensor], module: torch.nn.Module, part: str, name: str) -> None:
    check_state_dict(sd, {k: v.shape for k, v in module.state_dict().items()}, f"the {part} of {EXPECTED}", name)
