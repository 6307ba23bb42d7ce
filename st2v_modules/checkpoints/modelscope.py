"""Find, recognise and convert ModelScope T2V UNet weights in the formats users download.

Three layouts reach us: the diffusers folder (`unet/config.json` + weights), a single
`.safetensors` in diffusers or original key names, and the original ModelScope
`text2video_pytorch_model.pth` (`UNetSD` names: input_blocks / middle_block / output_blocks).
Everything is converted to the diffusers names our `UNet3D` uses.
"""
from __future__ import annotations

import json
import os
import re

import torch

from ..models.config import CROSS_ATTN_DOWN, CROSS_ATTN_UP, PLAIN_DOWN, PLAIN_UP, UNet3DConfig
from ..models.unet3d import UNet3D
from .errors import CheckpointError
from .reading import check_state_dict, read_json, read_state_dict, safetensors_metadata

CONFIG_METADATA_KEY = "st2v_unet3d_config"
STRIPPED_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "unet.")
DIFFUSERS_WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                          "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin")
EXPECTED = "a ModelScope text-to-video UNet (diffusers unet/ folder, a .safetensors of it, or text2video_pytorch_model.pth)"


def load_unet3d_state_dict(path: str) -> tuple[dict[str, torch.Tensor], UNet3DConfig]:
    """Weights (diffusers names) and config from a file or a diffusers model/unet folder."""
    weights_path, config_path = _resolve(path)
    raw = read_state_dict(weights_path)
    sd = raw if describe(raw).startswith("the StreamingT2V") else strip_prefix(raw)
    name = os.path.basename(weights_path)
    kind = describe(sd)
    if kind == "modelscope":
        sd = modelscope_to_diffusers(sd)
    elif kind != "diffusers":
        raise CheckpointError(f"{name} looks like {kind}; expected {EXPECTED}.")
    config = _config_for(sd, weights_path, config_path)
    check_keys(sd, config, name)
    return sd, config


def _resolve(path: str) -> tuple[str, str | None]:
    """The weights file and, for the diffusers layout, the config.json beside it."""
    if not os.path.isdir(path):
        config = os.path.join(os.path.dirname(path), "config.json")
        in_diffusers_folder = os.path.basename(path) in DIFFUSERS_WEIGHT_NAMES and os.path.isfile(config)
        return path, config if in_diffusers_folder else None
    folder = os.path.join(path, "unet") if os.path.isdir(os.path.join(path, "unet")) else path
    for weights in DIFFUSERS_WEIGHT_NAMES + ("text2video_pytorch_model.pth",):
        if os.path.isfile(os.path.join(folder, weights)):
            config = os.path.join(folder, "config.json")
            return os.path.join(folder, weights), config if os.path.isfile(config) else None
    raise CheckpointError(f"No UNet weights in folder {path}; expected unet/diffusion_pytorch_model.safetensors "
                          "(diffusers layout) or text2video_pytorch_model.pth (ModelScope layout).")


def strip_prefix(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in STRIPPED_PREFIXES:
        if sum(k.startswith(prefix) for k in sd) > len(sd) // 2:
            return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    return sd


def describe(sd: dict[str, torch.Tensor]) -> str:
    """'diffusers' or 'modelscope' for a T2V UNet, otherwise a phrase naming what the keys look like."""
    keys = sd.keys()
    has = lambda fragment: any(fragment in k for k in keys)  # noqa: E731
    prefixes = {k.split(".", 1)[0] for k in keys}
    if has("cross_attention_merger") or {"base_model", "resampler"} <= prefixes or "controlnet" in prefixes:
        return "the StreamingT2V checkpoint (streaming_t2v.ckpt); load it with the Load StreamingT2V node instead"
    if has("temp_convs.") and "conv_in.weight" in sd:
        return "diffusers"
    if has("temopral_conv.") and "input_blocks.0.0.weight" in sd:
        return "modelscope"
    if has("input_blocks.") and has("label_emb."):
        return "an SDXL UNet"
    if has("input_blocks.") and has("middle_block."):
        return "an SD1.5/SD2 UNet (no temporal layers)"
    if has("down_blocks.") and "conv_in.weight" in sd and not has("temp_"):
        return "a diffusers image UNet (no temporal layers)"
    if has("encoder.down.") or has("decoder.up_blocks.") or has("encoder.down_blocks."):
        return "a VAE"
    if has("text_model.encoder.") or has("transformer.resblocks."):
        return "a CLIP text encoder"
    return f"an unknown model ({len(sd)} tensors, e.g. {next(iter(keys), 'none')})"


def modelscope_to_diffusers(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename `UNetSD` keys to diffusers names; temporal transformers' 1x1 Conv1d projections become Linear."""
    downsample_ids = sorted(int(m.group(1)) for k in sd if (m := re.match(r"input_blocks\.(\d+)\.op\.weight$", k)))
    layers = downsample_ids[0] - 1 if downsample_ids else _count(sd, r"input_blocks\.(\d+)\.0\.in_layers")
    upsamplers = _upsampler_prefixes(sd)
    out = {}
    for key, tensor in sd.items():
        new = _rename_modelscope_key(key, layers, upsamplers)
        if re.search(r"(transformer_in|temp_attentions\.\d+)\.proj_(in|out)\.weight$", new) and tensor.ndim == 3:
            tensor = tensor.squeeze(-1)
        out[new] = tensor
    return out


def _upsampler_prefixes(sd: dict) -> set[str]:
    """`output_blocks.i.j.` parts (j > 0) that hold nothing but a conv: the upsamplers, found once per file."""
    suffixes: dict[str, set[str]] = {}
    for key in sd:
        if m := re.match(r"(output_blocks\.\d+\.([1-9]\d*)\.)(.+)", key):
            suffixes.setdefault(m.group(1), set()).add(m.group(3))
    return {prefix for prefix, names in suffixes.items() if names <= {"conv.weight", "conv.bias"}}


def _count(sd: dict, pattern: str) -> int:
    return len({m.group(1) for k in sd if (m := re.match(pattern, k))})


RESNET_RENAMES = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
                  "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
FIXED_RENAMES = {"time_embed.0": "time_embedding.linear_1", "time_embed.2": "time_embedding.linear_2",
                 "input_blocks.0.0": "conv_in", "input_blocks.0.1": "transformer_in",
                 "out.0": "conv_norm_out", "out.2": "conv_out"}
MIDDLE_PARTS = {"0": ("resnets", 0), "1": ("attentions", 0), "2": ("temp_attentions", 0), "3": ("resnets", 1)}


def _rename_resnet(target: str, index: int, rest: str) -> str:
    """`rest` is what follows the UNetSD ResBlock; its temporal conv becomes a sibling `temp_convs` entry."""
    if rest.startswith("temopral_conv."):
        return f"{target}.temp_convs.{index}.{rest[len('temopral_conv.'):]}"
    head, _, tail = rest.partition(".")
    sub = f"{head}.{tail.split('.')[0]}"
    if sub in RESNET_RENAMES:
        return f"{target}.resnets.{index}.{RESNET_RENAMES[sub]}.{tail.split('.', 1)[1]}"
    return f"{target}.resnets.{index}.{RESNET_RENAMES.get(head, head)}.{tail}"


def _rename_modelscope_key(key: str, layers: int, upsamplers: set[str]) -> str:
    for old, new in FIXED_RENAMES.items():
        if key.startswith(old + "."):
            return new + key[len(old):]
    if m := re.match(r"input_blocks\.(\d+)\.op\.(.+)", key):
        level = (int(m.group(1)) - 1) // (layers + 1)
        return f"down_blocks.{level}.downsamplers.0.conv.{m.group(2)}"
    if m := re.match(r"input_blocks\.(\d+)\.(\d+)\.(.+)", key):
        level, index = divmod(int(m.group(1)) - 1, layers + 1)
        return _rename_part(f"down_blocks.{level}", index, m.group(2), m.group(3))
    if m := re.match(r"middle_block\.(\d)\.(.+)", key):
        part, index = MIDDLE_PARTS[m.group(1)]
        if part == "resnets":
            return _rename_resnet("mid_block", index, m.group(2))
        return f"mid_block.{part}.{index}.{m.group(2)}"
    if m := re.match(r"output_blocks\.(\d+)\.(\d+)\.(.+)", key):
        level, index = divmod(int(m.group(1)), layers + 1)
        if f"output_blocks.{m.group(1)}.{m.group(2)}." in upsamplers:
            return f"up_blocks.{level}.upsamplers.0.{m.group(3)}"
        return _rename_part(f"up_blocks.{level}", index, m.group(2), m.group(3))
    raise CheckpointError(f"Unexpected key {key!r} in a ModelScope UNet file; expected {EXPECTED}.")


def _rename_part(target: str, index: int, part: str, rest: str) -> str:
    if part == "0":
        return _rename_resnet(target, index, rest)
    return f"{target}.{'attentions' if part == '1' else 'temp_attentions'}.{index}.{rest}"


def infer_config(sd: dict[str, torch.Tensor]) -> UNet3DConfig:
    """Rebuild the config from tensor shapes (norm groups cannot be seen in shapes: 32, as in ModelScope)."""
    try:
        levels = _count(sd, r"down_blocks\.(\d+)\.resnets")
        channels = tuple(sd[f"down_blocks.{i}.resnets.0.conv1.weight"].shape[0] for i in range(levels))
        cross_down = tuple(CROSS_ATTN_DOWN if f"down_blocks.{i}.attentions.0.proj_in.weight" in sd else PLAIN_DOWN for i in range(levels))
        cross_up = tuple(CROSS_ATTN_UP if f"up_blocks.{i}.attentions.0.proj_in.weight" in sd else PLAIN_UP for i in range(levels))
        context_keys = [k for k in sd if k.endswith("attentions.0.transformer_blocks.0.attn2.to_k.weight") and "temp_" not in k]
        return UNet3DConfig(
            in_channels=sd["conv_in.weight"].shape[1],
            out_channels=sd["conv_out.weight"].shape[0] if "conv_out.weight" in sd else sd["conv_in.weight"].shape[1],
            block_out_channels=channels, down_block_types=cross_down, up_block_types=cross_up,
            layers_per_block=_count(sd, r"down_blocks\.0\.resnets\.(\d+)\."),
            attention_head_dim=sd["transformer_in.proj_in.weight"].shape[0] // UNet3DConfig.transformer_in_heads,
            cross_attention_dim=sd[context_keys[0]].shape[1] if context_keys else UNet3DConfig.cross_attention_dim,
        )
    except (KeyError, IndexError, ValueError) as e:
        raise CheckpointError(f"The UNet's tensor shapes do not describe a ModelScope UNet3D ({e}); expected {EXPECTED}.") from None


def _config_for(sd: dict, weights_path: str, config_path: str | None) -> UNet3DConfig:
    if config_path:
        return UNet3DConfig.from_diffusers(read_json(config_path))
    stored = safetensors_metadata(weights_path).get(CONFIG_METADATA_KEY)
    if stored:
        return UNet3DConfig.from_diffusers(json.loads(stored))
    return infer_config(sd)


def expected_shapes(config: UNet3DConfig) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in UNet3D(config, device="meta").state_dict().items()}


def check_keys(sd: dict[str, torch.Tensor], config: UNet3DConfig, name: str) -> None:
    check_state_dict(sd, expected_shapes(config), EXPECTED, name)
