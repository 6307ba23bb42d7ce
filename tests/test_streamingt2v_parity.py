"""CAM, APM and the StreamingT2V UNet reproduce the official code's outputs on its tiny fixtures.

Weights go through the loader that reads the real checkpoint (`streamingt2v_from_state_dict`).
"""
import pytest
import torch

from helpers.fixtures import load_fixture, manifest_shapes, official_modules, shape, tolerance
from helpers.official_checkpoint import tiny_official_weights
from st2v_modules.models.cam import run_cam
from helpers.tiny_models import to_frames_in_batch, to_video


@pytest.fixture(scope="module")
def modules():
    return official_modules()


def denoise(modules, latents, timestep, text, image_embeds, cond_frames):
    """One StreamingT2V denoiser call, official layouts in and out."""
    unet, cam, resampler = modules
    batch, frames = latents.shape[0], latents.shape[2]
    context = torch.cat([text, resampler(image_embeds, batch)], dim=1)
    x = to_frames_in_batch(latents)
    features = cam.encode_frames(cond_frames.flatten(0, 1))
    cam_out = run_cam(cam, x, timestep, context, frames, features)
    return to_video(unet(x, timestep, context, frames, cam_out), frames)


def test_the_run_time_test_checkpoint_is_in_the_published_layout():
    """What the other tests load instead of a fixture: the published key names of the trained parts with as many
    dimensions each (a tiny configuration has fewer blocks and channels), so it holds for any fixture set."""
    published, built = manifest_shapes(), tiny_official_weights()
    assert set(built) <= set(published), sorted(set(built) - set(published))[:5]
    assert {k: v.dim() for k, v in built.items()} == {k: len(published[k]) for k in built}


@torch.inference_mode()
def test_parity_resampler_and_token_merge(modules):
    unet, _, resampler = modules
    t, sidecar = load_fixture("apm_resampler_tiny")
    tol = tolerance(sidecar)
    single = resampler(t["inputs/clip_image_embeds_single"], t["outputs/image_tokens_single"].shape[0])
    assert (single - t["outputs/image_tokens_single"]).abs().max() <= tol
    multi = resampler(t["inputs/clip_image_embeds_multi"], t["outputs/image_tokens_multi"].shape[0])  # frames averaged
    assert multi.shape == shape(sidecar, "outputs/image_tokens_multi")
    assert (multi - t["outputs/image_tokens_multi"]).abs().max() <= tol
    attn2 = unet.get_submodule(sidecar["merge_layer"])  # the official module path: ours has the same
    context = torch.cat([t["inputs/text_embeds"], single], dim=1)
    merged = attn2.key_value_source(context)
    assert (merged - t["outputs/merged_context_77"]).abs().max() <= tol
    out = attn2(t["inputs/attn_hidden_states"], context)
    assert (out - t["outputs/attn2_output"]).abs().max() <= tol


@torch.inference_mode()
def test_parity_cam_residuals(modules):
    _, cam, _ = modules
    t, sidecar = load_fixture("cam_tiny")
    latents = t["inputs/latents"]
    frames, cam_frames = latents.shape[2], t["inputs/controlnet_cond"].shape[0]
    features = cam.encode_frames(t["inputs/controlnet_cond"])
    out = run_cam(cam, to_frames_in_batch(latents), t["inputs/timestep"], t["inputs/encoder_hidden_states"], frames, features)
    assert out.cam_frames == cam_frames
    for i, residual in enumerate(out.skips):
        assert (residual - t[f"outputs/down_block_res_samples.{i}"]).abs().max() <= tolerance(sidecar), i
    assert (out.mid - t["outputs/mid_block_res_sample"]).abs().max() <= tolerance(sidecar)


@torch.inference_mode()
def test_parity_full_denoiser_step_and_cfg_batch(modules):
    t, sidecar = load_fixture("cam_apm_unet_tiny")
    tol = tolerance(sidecar)
    inputs = (t["inputs/latents"], t["inputs/timestep"], t["inputs/text_embeds"], t["inputs/clip_image_embeds"], t["inputs/cond_frames"])
    noise = denoise(modules, *inputs)
    assert (noise - t["outputs/noise_pred"]).abs().max() <= tol
    latents, timestep, text, image, frames = inputs
    cfg = denoise(modules, latents.repeat(2, 1, 1, 1, 1), timestep, torch.cat([t["inputs/text_embeds_uncond"], text]),
                  torch.cat([t["inputs/clip_image_embeds_uncond"], image]), frames.repeat(2, 1, 1, 1, 1))
    assert (cfg[0] - t["outputs/noise_pred_uncond_cfg_batch"][0]).abs().max() <= tol
    assert (cfg[1] - t["outputs/noise_pred_text_cfg_batch"][0]).abs().max() <= tol
    guided = cfg[0] + sidecar["guidance_scale"] * (cfg[1] - cfg[0])
    assert (guided - t["outputs/noise_pred_guided"][0]).abs().max() <= tol * sidecar["guidance_scale"]


@torch.inference_mode()
def test_conditioning_frames_and_image_embedding_change_the_output(modules):
    """The same perturbation as the sidecar's sensitivity checks (+ 0.5 N(0, 1)) changes our output as much as the
    official one (another draw of the noise: within a factor 4 of the recorded mean change)."""
    t, sidecar = load_fixture("cam_apm_unet_tiny")
    g = torch.Generator().manual_seed(0)
    args = [t["inputs/latents"], t["inputs/timestep"], t["inputs/text_embeds"], t["inputs/clip_image_embeds"], t["inputs/cond_frames"]]
    base = denoise(modules, *args)
    checks = sidecar["sensitivity_checks"]
    for index, check in ((4, "cond_frames (CAM input) + 0.5*N"), (3, "clip_image_embeds (resampler input) + 0.5*N")):
        changed = list(args)
        changed[index] = args[index] + 0.5 * torch.randn(args[index].shape, generator=g)
        change, official = (denoise(modules, *changed) - base).abs().mean().item(), checks[check]["mean_abs_change"]
        assert official / 4 < change < 4 * official, (check, change, official)


@pytest.mark.parametrize("dtype, bound", [(torch.bfloat16, 0.1), (torch.float16, 0.02)])
def test_reduced_precision_runs_on_cpu_close_to_fp32(modules, dtype, bound):
    """The fp16/bf16 path of the same modules (what a GPU runs); error relative to the output's scale."""
    import copy
    t, _ = load_fixture("cam_apm_unet_tiny")
    args = [t["inputs/latents"], t["inputs/timestep"], t["inputs/text_embeds"], t["inputs/clip_image_embeds"], t["inputs/cond_frames"]]
    low = tuple(copy.deepcopy(m).to(dtype) for m in modules)
    with torch.inference_mode():
        reference = denoise(modules, *args)
        reduced = denoise(low, *[a.to(dtype) if a.is_floating_point() else a for a in args]).float()
    error = (reduced - reference).abs().max() / reference.abs().max()
    print(f"{dtype}: max abs error {float((reduced - reference).abs().max()):.4f}, relative {float(error):.4f}")
    assert torch.isfinite(reduced).all() and error < bound
