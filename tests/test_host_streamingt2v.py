"""StreamingT2V in the real ComfyUI: official-layout weights, one chunk conditioned by CAM + APM, core KSampler."""
import os

import pytest
import torch
from safetensors.torch import load_file

from graphs import streamingt2v_chunk
from host import HostExecutionError

pytestmark = pytest.mark.host


def sampled(host, **kwargs) -> torch.Tensor:
    prefix = kwargs.setdefault("prefix", "stv_chunk")
    outputs = host.run(streamingt2v_chunk(**kwargs))
    (entry,) = outputs["11"]["latents"]
    return load_file(os.path.join(host.folder_paths.get_output_directory(), entry["subfolder"], entry["filename"]))["latent_tensor"]


def test_a_chunk_is_sampled_and_depends_on_the_conditioning_frames(host):
    grey = sampled(host, frame_color=0x808080, prefix="grey")
    white = sampled(host, frame_color=0xFFFFFF, prefix="white")
    assert grey.shape == white.shape == (16, 4, 6, 8)
    assert torch.isfinite(grey).all()
    assert (grey - white).abs().mean() > 1e-3


def test_the_anchor_image_changes_the_chunk(host):
    a = sampled(host, anchor_color=0x000000, prefix="anchor_black")
    b = sampled(host, anchor_color=0xFFFFFF, prefix="anchor_white")
    assert (a - b).abs().mean() > 1e-4


def test_too_few_condition_frames_are_refused(host):
    with pytest.raises(HostExecutionError, match="condition_frames has 5 frames; the CAM needs the last 8"):
        host.run(streamingt2v_chunk(condition_frames=5))


def test_condition_frames_of_another_size_than_the_chunk_are_refused(host):
    with pytest.raises(HostExecutionError, match="conditioning frames are 32x48 pixels but the latent is 64x48"):
        host.run(streamingt2v_chunk(frame_size=(32, 48)))


def test_the_modelscope_loader_refuses_the_streamingt2v_checkpoint(host):
    from fake_models import STREAMINGT2V_CKPT
    node = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadModelScopeT2V"]
    with pytest.raises(Exception, match="StreamingT2V checkpoint .*Load StreamingT2V"):
        node.execute(unet_name=STREAMINGT2V_CKPT, weight_dtype="default")
