"""MS-Vid2Vid-XL against the official code's fixtures: UNet, guidance, schedule and randomized blending."""
import os

import pytest
import torch
from helpers.fake_models import tiny_enhancer_published
from helpers.fixtures import BlendingRun, enhancer_config, enhancer_manifest_shapes, enhancer_weights, load_fixture, shape
from helpers.tiny_models import to_frames_in_batch, to_video

from st2v_modules.sampling.blending import BlendPlan, blend_chunks, rescaled_guidance
from st2v_modules.models.config import MS_VID2VID_XL
from st2v_modules.checkpoints.enhancer import load_enhancer_state_dict
from st2v_modules.sampling.enhancer_schedule import official_sigmas, sigma_to_t, vp_sigmas
from st2v_modules.models.unet3d import UNet3D
from st2v_modules.checkpoints.modelscope import expected_shapes, modelscope_to_diffusers


def within_fixture_tolerance(ours: torch.Tensor, reference: torch.Tensor, sidecar: dict) -> float:
    """The sidecar's float32 bar, |ours - reference| <= atol + rtol |reference|; returns the max abs error."""
    bar = sidecar["suggested_tolerance"]["float32"]
    excess = (ours - reference).abs() - (bar["atol"] + bar["rtol"] * reference.abs())
    assert excess.max() <= 0, f"max abs error {(ours - reference).abs().max():.3g} exceeds the fixture tolerance"
    return (ours - reference).abs().max().item()


@pytest.fixture(scope="module")
def tiny_enhancer(tmp_path_factory):
    """The fixture weights saved as the published file is (`state_dict` inside a .pth), loaded by our loader."""
    weights, sidecar = enhancer_weights()
    path = os.path.join(tmp_path_factory.mktemp("enhancer"), "non_ema_0035000.pth")
    torch.save({"state_dict": weights}, path)
    sd, config = load_enhancer_state_dict(path, enhancer_config(sidecar))
    net = UNet3D(config)
    net.load_state_dict(sd, strict=True)
    return net.eval()


def test_the_run_time_test_enhancer_is_in_the_published_layout():
    """What the other tests load instead of a fixture: the published key names with as many dimensions each (a tiny
    configuration has fewer blocks and channels), so it holds for any fixture set."""
    published, built = enhancer_manifest_shapes(), tiny_enhancer_published()
    assert set(built) <= set(published), sorted(set(built) - set(published))[:5]
    assert {k: v.dim() for k, v in built.items()} == {k: len(published[k]) for k in built}


def run(net: UNet3D, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Official call `model(x [B,C,F,H,W], t, y)` through our frames-in-the-batch UNet."""
    with torch.no_grad():
        return to_video(net(to_frames_in_batch(x), t, y, x.shape[2]), x.shape[2])


def test_enhancer_unet_parity(tiny_enhancer):
    tensors, sidecar = load_fixture("v2v_unet_tiny", "enhancer")
    out = run(tiny_enhancer, tensors["inputs/x"], tensors["inputs/t"], tensors["inputs/y"])
    assert out.shape == tensors["outputs/unet_out"].shape == shape(sidecar, "outputs/unet_out")
    within_fixture_tolerance(out, tensors["outputs/unet_out"], sidecar)


def test_enhancer_guidance_step_parity(tiny_enhancer):
    """Two UNet calls (prompt, negative prompt), the sidecar's guidance scale with the whole-sample spread rescale."""
    tensors, sidecar = load_fixture("v2v_unet_tiny", "enhancer")
    scale, rescale = (sidecar["classifier_free_guidance"][k] for k in ("guide_scale", "guide_rescale"))
    x, t = tensors["inputs/cfg_x"], tensors["inputs/cfg_t"]
    cond, uncond = run(tiny_enhancer, x, t, tensors["inputs/cfg_y_pos"]), run(tiny_enhancer, x, t, tensors["inputs/cfg_y_neg"])
    within_fixture_tolerance(cond, tensors["outputs/cfg_cond"], sidecar)
    within_fixture_tolerance(uncond, tensors["outputs/cfg_uncond"], sidecar)
    guided = torch.stack([rescaled_guidance(c, u, scale, rescale) for c, u in zip(cond, uncond)])  # one sample at a time
    within_fixture_tolerance(guided, tensors["outputs/cfg_guided"], sidecar)
    plain = uncond + scale * (cond - uncond)
    assert rescale == 0 or (guided - plain).abs().max() > 10 * sidecar["suggested_tolerance"]["float32"]["atol"], \
        "the rescale must change the result"


def test_every_published_key_maps_with_its_shape():
    """All 1480 keys of non_ema_0035000.pth, on the meta device, through the same conversion the loader uses."""
    manifest = enhancer_manifest_shapes()
    converted = modelscope_to_diffusers({k: torch.empty(s, device="meta") for k, s in manifest.items()})
    assert len(manifest) == len(converted) == 1480
    assert {k: v.shape for k, v in converted.items()} == expected_shapes(MS_VID2VID_XL)
    assert sum(s.numel() for s in manifest.values()) == 1_411_233_860


FLOAT32_SCHEDULE = 4 * torch.finfo(torch.float32).eps  # the same float32 formulas, a few roundings apart


def test_enhancer_schedule_parity():
    tensors, sidecar = load_fixture("randomized_blending")
    run = BlendingRun.of(sidecar)
    vp = vp_sigmas()
    assert torch.allclose(vp, tensors["inputs/diffusion_sigmas_1000"], rtol=FLOAT32_SCHEDULE, atol=0)
    sigmas = official_sigmas(vp, run.steps, run.noise_level)
    assert torch.allclose(sigmas, tensors["outputs/sampler_sigmas"], rtol=FLOAT32_SCHEDULE, atol=0)
    assert torch.equal(sigma_to_t(tensors["inputs/sigma_per_step"], vp).round().long(), tensors["outputs/t_per_step"])


def toy_v(x: torch.Tensor, t: torch.Tensor, y: float) -> torch.Tensor:
    """The fixture's toy denoiser: depends on the whole chunk, so overlapping frames differ between chunks."""
    return torch.tanh(0.5 * x + 0.5 * x.mean(dim=2, keepdim=True)) + y * t / 1000


def test_randomized_blending_parity_per_step():
    """Each solver step (the official run: 30 steps, chunks of 24 overlapping by 8 over 56 frames), cut at the
    recorded offsets."""
    tensors, sidecar = load_fixture("randomized_blending")
    run = BlendingRun.of(sidecar)
    vp = vp_sigmas()
    alphas = (1 - vp**2).sqrt()
    plan = BlendPlan(run.frames, run.chunk, run.overlap)
    assert len(plan.starts) == run.chunks and tensors["inputs/random_offsets"].shape == (run.steps, run.chunks - 1)
    worst = 0.0
    for xt, sigma, cuts, reference in zip(tensors["inputs/xt_per_step"], tensors["inputs/sigma_per_step"],
                                          tensors["inputs/random_offsets"], tensors["outputs/x0_per_step"]):
        t = sigma_to_t(sigma, vp).round().long()

        def x0_of_chunk(start: int, end: int) -> torch.Tensor:
            x = xt[:, :, start:end]
            v = rescaled_guidance(toy_v(x, t, run.y_cond), toy_v(x, t, run.y_uncond), run.guide_scale, run.guide_rescale)
            return alphas[t] * x - vp[t] * v

        x0 = blend_chunks(x0_of_chunk, plan, cuts.tolist(), xt, frame_axis=2)
        worst = max(worst, (x0 - reference).abs().max().item())
    assert worst <= sidecar["suggested_tolerance"]["x0_per_step_max_abs_err"]
