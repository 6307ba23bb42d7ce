"""StreamingT2V Enhance in the real host: extend -> enhance to an mp4, core samplers, bad input."""
import os

import pytest
import torch
from helpers.graphs import enhance_frames, extend_and_enhance, newest_video, video_frames
from helpers.host import HostExecutionError, HostValidationError


@pytest.fixture(scope="module", autouse=True)
def taesd(host, models_dir):
    from helpers.fake_models import write_taesd
    write_taesd(os.path.join(models_dir, "vae_approx"))


def test_extend_then_enhance_writes_the_trimmed_720p_style_video(host):
    """48 frames (16 + 32) -> official trim to 40 -> a 128x80 canvas (the tiny stand-in for 1280x720), bars kept."""
    host.run(extend_and_enhance(prefix="stv_enh_official"))
    frames, width, height = video_frames(newest_video(host, "stv_enh_official"))
    assert (frames, width, height) == (40, 128, 80)


def test_another_core_sampler_and_scheduler_keep_every_frame_and_crop_the_bars(host):
    host.run(extend_and_enhance(sampler="euler", scheduler="karras", length="pad (keep every frame)",
                                fit="pad, then crop the bars", prefix="stv_enh_euler"))
    frames, width, height = video_frames(newest_video(host, "stv_enh_euler"))
    assert (frames, width, height) == (48, 106, 80)  # 64x48 scaled to fit 80 rows: 106 wide (even), bars cropped


def test_fill_covers_the_canvas_without_bars_and_returns_the_frames_and_the_player(host):
    outputs = host.run(enhance_frames(frames=40, fit="fill (crop to the canvas)", prefix="stv_enh_fill"))
    video = newest_video(host, "stv_enh_fill")
    assert video_frames(video) == (40, 128, 80)
    assert len(outputs["33"]["images"]) == 40
    assert outputs["32"] == {"images": [{"filename": os.path.basename(video), "subfolder": "", "type": "output"}], "animated": [True]}


def test_a_video_shorter_than_one_chunk_is_padded_and_comes_back_whole(host):
    host.run(enhance_frames(frames=18, prefix="stv_enh_short"))
    assert video_frames(newest_video(host, "stv_enh_short"))[0] == 18


def test_a_canvas_the_unet_cannot_reassemble_is_refused_before_running(host):
    with pytest.raises(HostValidationError, match="width 720 -> use 704 or 768"):
        host.run(enhance_frames(width=720, height=720))
    with pytest.raises(HostValidationError, match="multiples of 8"):
        host.run(enhance_frames(width=1284))


def test_the_first_chunk_model_given_to_the_enhancer_loader_is_named(host):
    from helpers.fake_models import DIFFUSERS_UNET, STREAMINGT2V_CKPT
    for wrong, message in [(DIFFUSERS_UNET, "ModelScope text-to-video UNet in diffusers layout"),
                           (STREAMINGT2V_CKPT, "StreamingT2V checkpoint")]:
        graph = enhance_frames()
        graph["30"]["inputs"]["unet_name"] = wrong
        with pytest.raises(HostExecutionError, match=message):
            host.run(graph)


class ToyDenoiser(torch.nn.Module):
    """The blending fixture's toy v-model in the UNet's place: v = tanh(x/2 + mean over the chunk's frames of x/2)
    + y * t / 1000, with y read off the text context (the sidecar's y for the prompt and for the negative)."""

    dtype = torch.float32

    def forward(self, x, timesteps, context=None, num_frames=None, **_):
        video = x.unflatten(0, (-1, num_frames))
        v = torch.tanh(0.5 * video + 0.5 * video.mean(dim=1, keepdim=True)).flatten(0, 1)
        y = context.mean(dim=(1, 2)) if context.shape[0] == x.shape[0] else context.mean(dim=(1, 2)).repeat_interleave(num_frames)
        return v + (y * timesteps.to(x) / 1000)[:, None, None, None]


def test_full_sampler_parity_through_the_hosts_dpmpp_2m_sde(host):
    """The official sampler end to end with the toy model, every setting from the sidecar: our model sampling, blending
    guider and guidance rescale driving the host's own DPM++ 2M SDE (its Brownian tree seeded 0 as the official one)
    reproduce the official result."""
    import comfy.k_diffusion.sampling as k_sampling
    import comfy.samplers
    from helpers.fake_models import ENHANCER
    from helpers.fixtures import BlendingRun, load_fixture
    from helpers.tiny_models import to_frames_in_batch, to_video
    tensors, sidecar = load_fixture("randomized_blending")
    run = BlendingRun.of(sidecar)
    engine, model_module = host.pack_module("nodes.enhance_engine"), host.pack_module("nodes.enhancer_model")
    blending = host.pack_module("st2v_modules.sampling.blending")
    model = model_module.load_enhancer(os.path.join(host.folder_paths.get_folder_paths("streamingt2v")[0], ENHANCER))
    model.model.diffusion_model = ToyDenoiser()
    model = engine.enhancer_model(model, run.guide_rescale)
    official_noise = tensors["inputs/full_sampler_noise"]  # [B, C, F, h, w]; the official start is noise * sigmas[0]
    frames = official_noise.shape[2]
    sigmas = tensors["outputs/sampler_sigmas"]
    recorded = iter(tensors["inputs/full_sampler_random_offsets"].tolist())
    conds = {"positive": [[torch.full((1, 77, 1024), run.y_cond), {"video_frames": run.chunk}]],
             "negative": [[torch.full((1, 77, 1024), run.y_uncond), {"video_frames": run.chunk}]]}
    guider = engine.blended(host.pack_module("nodes.guiding").cfg_guider(run.guide_scale)(model, conds),
                            blending.BlendPlan(frames, run.chunk, run.overlap), 0, cuts=lambda plan: next(recorded))
    tree = k_sampling.BrownianTreeNoiseSampler(official_noise, sigmas[sigmas > 0].min(), sigmas.max(), seed=0, cpu=True)
    sampler = comfy.samplers.KSAMPLER(k_sampling.sample_dpmpp_2m_sde,
                                      extra_options={"noise_sampler": lambda s, s_next: to_frames_in_batch(tree(s, s_next))})
    latent = torch.zeros_like(to_frames_in_batch(official_noise))
    samples = guider.sample(to_frames_in_batch(official_noise), latent, sampler, sigmas, disable_pbar=True, seed=0)
    result = to_video(samples * model.model.latent_format.scale_factor, frames)
    error = (result - tensors["outputs/full_sampler_result"]).abs().max().item()
    assert error < sidecar["suggested_tolerance"]["full_sampler_max_abs_err"], error
    assert next(recorded, None) is None, "one set of cuts per solver step"


def test_the_advanced_form_runs_on_any_noise_sampler_and_the_official_sigmas(host):
    graph = enhance_frames(frames=24, prefix="stv_enh_advanced")
    simple = graph.pop("32")["inputs"]
    graph["40"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 3}}
    graph["41"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "dpmpp_2m"}}
    graph["42"] = {"class_type": "STV_EnhanceSigmas", "inputs": {"model": ["30", 0], "steps": 2, "strength": 0.6}}
    graph["43"] = {"class_type": "CFGGuider", "inputs": {"model": ["30", 0], "positive": simple["positive"],
                                                         "negative": simple["negative"], "cfg": 7.5}}
    advanced = {k: v for k, v in simple.items()
                if k not in ("model", "positive", "negative", "cfg", "seed", "steps", "strength", "sampler_name", "scheduler")}
    graph["32"] = {"class_type": "STV_EnhanceAdvanced", "inputs": {
        **advanced, "guider": ["43", 0], "noise": ["40", 0], "sampler": ["41", 0], "sigmas": ["42", 0], "blend_seed": 5}}
    outputs = host.run(graph)
    assert video_frames(newest_video(host, "stv_enh_advanced")) == (24, 128, 80)
    assert len(outputs["33"]["images"]) == 24


def test_enhance_sigmas_refuse_a_model_without_the_enhancer_schedule(host):
    from helpers.fake_models import DIFFUSERS_UNET
    graph = {"1": {"class_type": "STV_LoadModelScopeT2V", "inputs": {"unet_name": DIFFUSERS_UNET, "weight_dtype": "default"}},
             "2": {"class_type": "STV_EnhanceSigmas", "inputs": {"model": ["1", 0], "steps": 30, "strength": 0.6}},
             "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}}}
    with pytest.raises(HostExecutionError, match="needs the MODEL of Load Enhancer"):
        host.run(graph)


def test_the_enhancer_estimates_its_memory_with_its_own_measured_constant(host):
    """bench/unet_memory.py --model enhancer: 10520 bytes per latent pixel per dtype byte at 1280x720 (the T2V UNet: 10652)."""
    from helpers.fake_models import ENHANCER
    enhancer = host.pack_module("nodes.enhancer_model")
    model = enhancer.load_enhancer(os.path.join(host.folder_paths.get_folder_paths("streamingt2v")[0], ENHANCER)).model
    window = [48, 4, 90, 160]  # one 24-frame window at 1280x720, cond and uncond batched
    assert model.memory_required(window) == 48 * 90 * 160 * 4 * enhancer.ACTIVATION_BYTES_PER_LATENT_PIXEL
    assert model.memory_required(window) / 2**30 == pytest.approx(27.1, abs=0.1)  # fp32 on CPU; half that in fp16
