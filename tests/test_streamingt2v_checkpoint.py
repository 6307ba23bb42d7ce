"""The loader covers every key of the real streaming_t2v.ckpt, and refuses what is not one."""
import os

import pytest
import torch
from safetensors.torch import save_file

from helpers.fixtures import manifest_shapes
from helpers.official_checkpoint import FROZEN_PREFIXES, frozen_shapes, tiny_official_weights
from st2v_modules.models.config import MODELSCOPE_T2V
from st2v_modules.checkpoints.errors import CheckpointError
from st2v_modules.checkpoints.streamingt2v import read_streamingt2v, streamingt2v_from_state_dict
from helpers.tiny_models import tiny_unet

FROZEN_COUNTS = {"image_encoder": 398, "text_encoder": 372, "vae": 248}


def manifest_state_dict() -> dict[str, torch.Tensor]:
    return {k: torch.empty(shape, device="meta") for k, shape in manifest_shapes().items()}


def test_every_key_of_the_full_checkpoint_is_mapped_with_its_shape():
    sd = manifest_state_dict()
    assert len(sd) == 3407
    weights = streamingt2v_from_state_dict(sd, "streaming_t2v.ckpt")  # raises on any missing/unexpected/misshaped trained key
    assert weights.unet_config == MODELSCOPE_T2V
    assert weights.frame_encoder_channels == (32, 96, 256, 512)
    assert weights.resampler_inner_dim == 1280
    assert {p: len(getattr(weights, p)) for p in FROZEN_COUNTS} == FROZEN_COUNTS
    assert len(weights.unet) + len(weights.cam) + len(weights.resampler) + sum(FROZEN_COUNTS.values()) == len(sd)


def test_the_test_checkpoints_frozen_parts_have_the_real_keys_and_shapes():
    real = {k: s for k, s in manifest_shapes().items() if k.startswith(FROZEN_PREFIXES)}
    assert frozen_shapes() == real and len(real) == sum(FROZEN_COUNTS.values())


def test_repacked_layout_with_swapped_names_loads_the_same_parts(tmp_path):
    official = tiny_official_weights()
    renamed = {("controlnet." + k[5:] if k.startswith("unet.") else "unet." + k[11:] if k.startswith("base_model.") else k): v
               for k, v in official.items()}
    path = str(tmp_path / "repack_fp16.safetensors")
    save_file({k: v.half() for k, v in renamed.items()}, path)
    repack, reference = read_streamingt2v(path), streamingt2v_from_state_dict(official, "official")
    assert repack.unet.keys() == reference.unet.keys() and repack.cam.keys() == reference.cam.keys()
    assert all(v.dtype == torch.float16 for v in repack.cam.values())


def test_lightning_ckpt_reads_only_the_state_dict(tmp_path):
    path = str(tmp_path / "streaming_t2v.ckpt")
    torch.save({"state_dict": tiny_official_weights(), "optimizer_states": [{"state": {0: {"exp_avg": torch.zeros(3)}}}],
                "epoch": 3}, path)
    weights = read_streamingt2v(path)
    assert len(weights.cam) == sum(k.startswith("unet.") for k in tiny_official_weights())


def test_a_modelscope_unet_is_sent_to_the_other_loader(tmp_path):
    path = str(tmp_path / "t2v.safetensors")
    save_file(tiny_unet().state_dict(), path)
    with pytest.raises(CheckpointError, match="looks like a ModelScope T2V UNet .*Load ModelScope T2V Model"):
        read_streamingt2v(path)


def test_an_sd_checkpoint_is_named(tmp_path):
    path = str(tmp_path / "sd15.safetensors")
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(8, 4, 3, 3),
               "model.diffusion_model.middle_block.0.in_layers.0.weight": torch.zeros(8)}, path)
    with pytest.raises(CheckpointError, match="looks like an SD1.5/SD2 UNet.*expected the StreamingT2V checkpoint"):
        read_streamingt2v(path)


def test_missing_cam_keys_are_counted(tmp_path):
    sd = tiny_official_weights()
    cut = [k for k in sd if k.startswith("unet.down_blocks.1.")]
    for k in cut:
        del sd[k]
    with pytest.raises(CheckpointError, match=f"the cam of the StreamingT2V checkpoint.*: {len(cut)} missing keys"):
        streamingt2v_from_state_dict(sd, "cut.ckpt")


def test_a_truncated_checkpoint_is_called_corrupt(tmp_path):
    full = str(tmp_path / "full.ckpt")
    torch.save({"state_dict": tiny_official_weights()}, full)
    data = open(full, "rb").read()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="truncated or corrupt: download it again"):
        read_streamingt2v(str(tmp_path / "cut.ckpt"))


def test_converter_writes_a_safetensors_the_loader_reads_back(tmp_path):
    import subprocess
    import sys
    source = str(tmp_path / "streaming_t2v.ckpt")
    torch.save({"state_dict": tiny_official_weights(), "optimizer_states": [{"exp_avg": torch.zeros(10)}]}, source)
    target = str(tmp_path / "streaming_t2v_fp16.safetensors")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-m", "st2v_modules.convert_checkpoint", source, target, "--fp16"], cwd=repo,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == target
    back, original = read_streamingt2v(target), read_streamingt2v(source)
    assert back.cam.keys() == original.cam.keys() and all(v.dtype == torch.float16 for v in back.unet.values())
    assert max((back.unet[k].float() - v).abs().max() for k, v in original.unet.items()) < 1e-2


def test_converter_without_the_official_file_says_how_to_get_it(tmp_path):
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-m", "st2v_modules.convert_checkpoint", "--fp16", "--models-dir", str(tmp_path)],
                          cwd=repo, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert (f"streaming_t2v.ckpt is not in {tmp_path / 'streamingt2v'}: download it first with python -m "
            "st2v_modules.download streamingt2v (25.6 GB), or name the file: python -m st2v_modules.convert_checkpoint "
            "SOURCE TARGET --fp16") in done.stderr
    assert "refresh" not in done.stderr


def test_converter_refuses_to_overwrite_its_source(tmp_path):
    from st2v_modules.checkpoints.convert import convert
    path = str(tmp_path / "a.safetensors")
    with pytest.raises(ValueError, match="must not overwrite its source"):
        convert(path, path)
