"""Our UNet3D computes what diffusers' UNet3DConditionModel and ModelScope's own UNetSD compute."""
import pytest
import torch

from st2v_modules.models.unet3d import UNet3D
from st2v_modules.checkpoints.modelscope import load_unet3d_state_dict
from helpers.tiny_models import TINY_DIFFUSERS_CONFIG, TINY_CONFIG, randomize, to_frames_in_batch, to_video, write_modelscope_unet
from helpers.tolerances import FLOAT32_REORDERED, relative_error


def inputs(batch=2, frames=3, height=12, width=10, tokens=77, seed=1):
    g = torch.Generator().manual_seed(seed)
    video = torch.randn(batch, 4, frames, height, width, generator=g)
    timesteps = torch.tensor([21.0, 981.0])[:batch]
    context = torch.randn(batch, tokens, 1024, generator=g)
    return video, timesteps, context


@pytest.fixture(scope="module")
def diffusers_pair():
    diffusers = pytest.importorskip("diffusers", reason="diffusers is the test-only oracle (requirements-test.txt)")
    torch.manual_seed(0)
    reference = randomize(diffusers.UNet3DConditionModel(**TINY_DIFFUSERS_CONFIG), seed=0)
    ours = UNet3D(TINY_CONFIG).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


@torch.inference_mode()
def test_matches_diffusers_on_a_cfg_batch_of_odd_sized_latents(diffusers_pair):
    reference, ours = diffusers_pair
    video, timesteps, context = inputs()
    expected = reference(video, timesteps, context).sample
    got = to_video(ours(to_frames_in_batch(video), timesteps, context, num_frames=3), 3)
    assert got.shape == expected.shape == (2, 4, 3, 12, 10)
    assert relative_error(got, expected) <= FLOAT32_REORDERED  # another attention kernel, the same float32 network
    assert expected.abs().max() > 0.1  # the comparison is not between two near-zero tensors


@torch.inference_mode()
def test_per_frame_context_and_timesteps_equal_per_video_ones(diffusers_pair):
    """ComfyUI hands the UNet one context row and one timestep per frame."""
    _, ours = diffusers_pair
    video, timesteps, context = inputs()
    x = to_frames_in_batch(video)
    per_video = ours(x, timesteps, context, num_frames=3)
    per_frame = ours(x, timesteps.repeat_interleave(3), context.repeat_interleave(3, dim=0), num_frames=3)
    assert torch.equal(per_video, per_frame)


@torch.inference_mode()
def test_matches_the_original_modelscope_unetsd_loaded_from_its_pth(tmp_path):
    pytest.importorskip("modelscope", reason="modelscope's UNetSD is a test-only oracle (requirements-test.txt)")
    path, original = write_modelscope_unet(str(tmp_path))
    sd, config = load_unet3d_state_dict(path)
    ours = UNet3D(config).eval()
    ours.load_state_dict(sd, strict=True)
    video, timesteps, context = inputs(height=8, width=8, tokens=7)
    expected = original(video, timesteps.long(), context)
    got = to_video(ours(to_frames_in_batch(video), timesteps, context, num_frames=3), 3)
    assert relative_error(got, expected) <= FLOAT32_REORDERED
    assert expected.abs().max() > 0.1


def test_frame_count_that_does_not_divide_the_batch_is_refused():
    ours = UNet3D(TINY_CONFIG)
    with pytest.raises(ValueError, match="does not split into videos of 4 frames"):
        ours(torch.zeros(6, 4, 8, 8), torch.tensor([1.0]), torch.zeros(1, 77, 1024), num_frames=4)
