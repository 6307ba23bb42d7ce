"""Every format users download loads to the same weights; anything else is refused with a useful message."""
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from st2v_modules.models.config import MODELSCOPE_T2V, UNet3DConfig
from st2v_modules.checkpoints.errors import CheckpointError
from st2v_modules.checkpoints.modelscope import check_keys, expected_shapes, infer_config, load_unet3d_state_dict, modelscope_to_diffusers
from helpers.tiny_models import (TINY_CONFIG, modelscope_unetsd_class, tiny_unet, write_diffusers_unet,
                         write_modelscope_unet, write_single_file)

FULL_SIZE_KEYS = 1480


def meta_state_dict(module_factory) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return module_factory().state_dict()


def assert_same_shapes(sd: dict, config: UNet3DConfig) -> None:
    assert {k: v.shape for k, v in sd.items()} == expected_shapes(config)


def test_full_size_diffusers_layout_matches_one_to_one():
    diffusers = pytest.importorskip("diffusers", reason="diffusers is the test-only oracle")
    sd = meta_state_dict(diffusers.UNet3DConditionModel)  # its defaults are text-to-video-ms-1.7b's config
    assert len(sd) == FULL_SIZE_KEYS
    assert_same_shapes(sd, MODELSCOPE_T2V)
    assert infer_config(sd) == MODELSCOPE_T2V


def test_full_size_single_file_layout_with_a_checkpoint_prefix_matches_one_to_one(tmp_path):
    diffusers = pytest.importorskip("diffusers", reason="diffusers is the test-only oracle")
    from st2v_modules.checkpoints.modelscope import strip_prefix
    sd = {"model.diffusion_model." + k: v for k, v in meta_state_dict(diffusers.UNet3DConditionModel).items()}
    assert_same_shapes(strip_prefix(sd), MODELSCOPE_T2V)


def test_full_size_original_modelscope_layout_matches_one_to_one():
    pytest.importorskip("modelscope", reason="modelscope's UNetSD is a test-only oracle")
    unetsd = modelscope_unetsd_class()
    original = meta_state_dict(lambda: unetsd(in_dim=4, dim=320, y_dim=768, context_dim=1024, out_dim=4, dim_mult=[1, 2, 4, 4],
                                              num_heads=8, head_dim=64, num_res_blocks=2, attn_scales=[1, 0.5, 0.25],
                                              dropout=0.1, temporal_attention=True))
    converted = modelscope_to_diffusers(original)
    assert len(converted) == len(original) == FULL_SIZE_KEYS
    assert_same_shapes(converted, MODELSCOPE_T2V)
    assert infer_config(converted) == MODELSCOPE_T2V


def test_diffusers_folder_single_files_and_fp16_load_the_same_weights(tmp_path):
    unet = tiny_unet()
    reference = unet.state_dict()
    write_diffusers_unet(str(tmp_path / "t2v"), unet)
    for source in [str(tmp_path / "t2v"), str(tmp_path / "t2v" / "unet" / "diffusion_pytorch_model.safetensors"),
                   write_single_file(str(tmp_path / "fp32.safetensors"), unet),
                   write_single_file(str(tmp_path / "prefixed.safetensors"), unet, prefix="model.diffusion_model.")]:
        sd, config = load_unet3d_state_dict(source)
        assert config == TINY_CONFIG, source
        assert all(torch.equal(sd[k], reference[k]) for k in reference), source
    sd, _ = load_unet3d_state_dict(write_single_file(str(tmp_path / "fp16.safetensors"), unet, torch.float16))
    assert all(v.dtype == torch.float16 for v in sd.values())
    assert max((sd[k].float() - reference[k]).abs().max() for k in reference) < 1e-2


def test_modelscope_folder_and_pth_load(tmp_path):
    pytest.importorskip("modelscope", reason="modelscope's UNetSD is a test-only oracle")
    path, _ = write_modelscope_unet(str(tmp_path / "modelscope"))
    for source in [path, str(tmp_path / "modelscope")]:
        sd, config = load_unet3d_state_dict(source)
        check_keys(sd, config, "tiny")
        assert config.block_out_channels == (32, 64)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="Model file not found: .*nothere.safetensors"):
        load_unet3d_state_dict(str(tmp_path / "nothere.safetensors"))


def test_folder_without_weights_says_what_it_expected(tmp_path):
    with pytest.raises(CheckpointError, match="No UNet weights in folder .*diffusion_pytorch_model.safetensors"):
        load_unet3d_state_dict(str(tmp_path))


@pytest.mark.parametrize("keys, looks_like", [
    ({"model.diffusion_model.input_blocks.0.0.weight": (8, 4, 3, 3), "model.diffusion_model.middle_block.0.in_layers.0.weight": (8,),
      "model.diffusion_model.out.2.weight": (4, 8, 3, 3)}, "an SD1.5/SD2 UNet"),
    ({"encoder.down.0.block.0.conv1.weight": (8, 8, 3, 3), "decoder.up.0.block.0.conv1.weight": (8, 8, 3, 3)}, "a VAE"),
    ({"text_model.encoder.layers.0.mlp.fc1.weight": (8, 8)}, "a CLIP text encoder"),
    ({"base_model.conv_in.weight": (8, 4, 3, 3), "resampler.context_embedding.0.weight": (8, 8)}, "the StreamingT2V checkpoint"),
])
def test_other_kinds_of_checkpoint_are_named(tmp_path, keys, looks_like):
    path = str(tmp_path / "other.safetensors")
    save_file({k: torch.zeros(s) for k, s in keys.items()}, path)
    with pytest.raises(CheckpointError, match=f"looks like {looks_like}.*expected a ModelScope text-to-video UNet"):
        load_unet3d_state_dict(path)


def test_incomplete_unet_reports_missing_and_unexpected_counts(tmp_path):
    sd = tiny_unet().state_dict()
    sd.pop("conv_out.weight")
    sd["down_blocks.0.temp_convs.0.extra.weight"] = torch.zeros(1)
    path = str(tmp_path / "partial.safetensors")
    save_file(sd, path)
    with pytest.raises(CheckpointError, match=r"1 missing keys .*conv_out.weight.*1 unexpected keys .*extra.weight"):
        load_unet3d_state_dict(path)


@pytest.mark.parametrize("name", ["cut.safetensors", "cut.pth"])
def test_truncated_files_are_called_corrupt(tmp_path, name):
    full = str(tmp_path / ("full" + os.path.splitext(name)[1]))
    sd = tiny_unet().state_dict()
    save_file(sd, full) if name.endswith(".safetensors") else torch.save(sd, full)
    data = open(full, "rb").read()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt: download it again"):
        load_unet3d_state_dict(str(tmp_path / name))


class Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickles_that_would_run_code_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"conv_in.weight": Payload()}))
    with pytest.raises(CheckpointError, match="nothing in a file may run code"):
        load_unet3d_state_dict(str(path))
