"""UNet3D hyperparameters, read from the diffusers `unet/config.json` convention."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

CROSS_ATTN_DOWN = "CrossAttnDownBlock3D"
PLAIN_DOWN = "DownBlock3D"
CROSS_ATTN_UP = "CrossAttnUpBlock3D"
PLAIN_UP = "UpBlock3D"


@dataclass(frozen=True)
class UNet3DConfig:
    """What shapes a ModelScope-style UNet3D. Field names follow diffusers' `UNet3DConditionModel`.

    `attention_head_dim` is the width of one head in every spatial and temporal transformer
    (heads = channels // attention_head_dim); `transformer_in` has `transformer_in_heads` heads of that width.
    `row_padded_resampling` is MS-Vid2Vid-XL's: downsampling convs pad 2 rows and 1 column, upsampling drops
    the first and last rows (spec 3.1), so only some latent sizes fit (`sampling.canvas`).
    """

    in_channels: int = 4
    out_channels: int = 4
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    down_block_types: tuple[str, ...] = (CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, PLAIN_DOWN)
    up_block_types: tuple[str, ...] = (PLAIN_UP, CROSS_ATTN_UP, CROSS_ATTN_UP, CROSS_ATTN_UP)
    layers_per_block: int = 2
    attention_head_dim: int = 64
    cross_attention_dim: int = 1024
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    transformer_in_heads: int = 8
    row_padded_resampling: bool = False

    def __post_init__(self) -> None:
        n = len(self.block_out_channels)
        if len(self.down_block_types) != n or len(self.up_block_types) != n:
            raise ValueError("UNet3D config: down_block_types, up_block_types and block_out_channels need one entry per level")
        unknown = set(self.down_block_types) - {CROSS_ATTN_DOWN, PLAIN_DOWN} | set(self.up_block_types) - {CROSS_ATTN_UP, PLAIN_UP}
        if unknown:
            raise ValueError(f"UNet3D config: unsupported block types {sorted(unknown)}")
        for c in self.block_out_channels:
            if c % self.attention_head_dim or c % self.norm_num_groups:
                raise ValueError(f"UNet3D config: {c} channels do not split into heads of {self.attention_head_dim} and {self.norm_num_groups} norm groups")

    @property
    def time_embed_dim(self) -> int:
        return self.block_out_channels[0] * 4

    @classmethod
    def from_diffusers(cls, config: dict[str, Any]) -> "UNet3DConfig":
        """Build from a diffusers `config.json` dict, refusing settings this UNet does not implement."""
        unsupported = {
            "act_fn": "silu", "downsample_padding": 1, "mid_block_scale_factor": 1,
            "num_attention_heads": None, "time_cond_proj_dim": None,
        }
        for key, expected in unsupported.items():
            if config.get(key, expected) != expected:
                raise ValueError(f"UNet3D config: {key}={config[key]!r} is not supported (expected {expected!r})")
        known = {f.name for f in fields(cls)}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k in known}
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# damo-vilab/text-to-video-ms-1.7b, unet/config.json
MODELSCOPE_T2V = UNet3DConfig()
# MS-Vid2Vid-XL (damo/Video-to-Video): the same layout, different resampling
MS_VID2VID_XL = UNet3DConfig(row_padded_resampling=True)
