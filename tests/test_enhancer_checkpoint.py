"""Loading the published enhancer file and what users may mistake for it."""
import os
import re

import pytest
import torch
from helpers.fixtures import enhancer_config, enhancer_weights
from safetensors.torch import save_file

from st2v_modules.checkpoints.enhancer import enhancer_safetensors_metadata, load_enhancer_state_dict
from st2v_modules.checkpoints.errors import CheckpointError


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    weights, sidecar = enhancer_weights()
    return weights, enhancer_config(sidecar), tmp_path_factory.mktemp("enhancer")


def test_the_published_pth_with_and_without_its_state_dict_wrapper(published):
    weights, config, folder = published
    _, sidecar = enhancer_weights()
    for name, payload in [("non_ema_0035000.pth", {"state_dict": weights}), ("bare.pth", weights)]:
        path = os.path.join(folder, name)
        torch.save(payload, path)
        sd, loaded_config = load_enhancer_state_dict(path, config)
        assert loaded_config == config and len(sd) == len(weights) == sidecar["derived"]["state_dict_entries"]
        first_downsampler = next(k for k in weights if re.fullmatch(r"input_blocks\.\d+\.op\.weight", k))
        assert torch.equal(sd["down_blocks.0.downsamplers.0.conv.weight"], weights[first_downsampler])


def test_an_fp16_safetensors_names_its_own_config(published):
    weights, config, folder = published
    path = os.path.join(folder, "enhancer_fp16.safetensors")
    save_file({k: v.half().contiguous() for k, v in weights.items()}, path, metadata=enhancer_safetensors_metadata(config))
    sd, loaded_config = load_enhancer_state_dict(path)
    assert loaded_config == config and loaded_config.row_padded_resampling
    assert all(v.dtype == torch.float16 for v in sd.values())


def test_the_first_chunk_model_and_other_files_are_named(published, tmp_path):
    weights, config, _ = published
    t2v = tmp_path / "text2video_pytorch_model.pth"
    torch.save(weights, t2v)  # same key layout as the enhancer: only its published name tells them apart
    with pytest.raises(CheckpointError, match="ModelScope text-to-video UNet.*the enhancer needs"):
        load_enhancer_state_dict(str(t2v), config)
    vae = tmp_path / "vae.safetensors"
    save_file({"encoder.down.0.block.0.conv1.weight": torch.zeros(8, 8, 3, 3)}, str(vae))
    with pytest.raises(CheckpointError, match="looks like a VAE; expected the MS-Vid2Vid-XL enhancer UNet"):
        load_enhancer_state_dict(str(vae))
    with pytest.raises(CheckpointError, match="not found"):
        load_enhancer_state_dict(str(tmp_path / "missing.pth"))


def test_a_truncated_download_is_named(published, tmp_path):
    weights, config, _ = published
    whole = tmp_path / "whole.pth"
    torch.save({"state_dict": weights}, whole)
    broken = tmp_path / "non_ema_0035000.pth"
    broken.write_bytes(whole.read_bytes()[:4096])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_enhancer_state_dict(str(broken), config)
