"""A complete StreamingT2V checkpoint in the official key layout, tiny where it was trained and full size (random)
where it was frozen, so workflows can wire Load StreamingT2V's own CLIP, VAE and CLIP_VISION outputs as users do."""
from __future__ import annotations

import os
import shutil

from safetensors.torch import save_file

from helpers.fake_models import random_like_shapes
from helpers.fixtures import manifest_shapes, official_weights

COMPLETE_STREAMINGT2V = "streaming_t2v_complete_tiny.safetensors"
FROZEN_PREFIXES = ("text_encoder.", "vae.", "image_encoder.model.")
BYTES_NEEDED = 3 * 2**30  # 2.2 GB of fp16 random weights, with room to spare


def write_complete_streamingt2v(models_dir: str) -> str:
    """`models/streamingt2v/<COMPLETE_STREAMINGT2V>` (written once per models folder); returns its name.

    Trained parts: the fixture's tiny CAM, APM and UNet. Frozen parts: fp16 random weights of the shapes the real
    streaming_t2v.ckpt has (OpenCLIP ViT-H text tower, SD VAE, OpenCLIP ViT-H/14 image encoder), same key names.
    """
    path = os.path.join(models_dir, "streamingt2v", COMPLETE_STREAMINGT2V)
    if os.path.isfile(path):
        return COMPLETE_STREAMINGT2V
    free = shutil.disk_usage(models_dir).free
    if free < BYTES_NEEDED:
        raise OSError(f"{models_dir} has {free / 2**30:.1f} GiB free; the complete test checkpoint needs {BYTES_NEEDED / 2**30:.0f} GiB.")
    frozen = {k: s for k, s in manifest_shapes().items() if k.startswith(FROZEN_PREFIXES)}
    save_file({**official_weights(), **random_like_shapes(frozen, seed=4)}, path + ".part")
    os.replace(path + ".part", path)
    return COMPLETE_STREAMINGT2V
