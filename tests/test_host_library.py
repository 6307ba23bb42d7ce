"""The pack inside the real ComfyUI (library mode): core nodes make a video from our MODEL."""
import os

import pytest
import torch

from helpers.fake_models import MODELSCOPE_PTH, NOT_A_UNET, SINGLE_FILE_FP16, TRUNCATED
from helpers.graphs import sample_only, text_to_video, video_frames
from helpers.host import HostExecutionError, HostValidationError
from helpers.tolerances import FLOAT32_REORDERED, relative_error

pytestmark = pytest.mark.host
OUR_NODES = {"STV_LoadModelScopeT2V", "STV_LoadStreamingT2V", "STV_ConvertStreamingT2V", "STV_Conditioning", "STV_Extend",
             "STV_ExtendAdvanced", "STV_EmptyVideoLatent", "STV_DownloadModels", "STV_LoadEnhancer", "STV_Enhance",
             "STV_EnhanceAdvanced", "STV_EnhanceSigmas", "STV_VideoMetrics"}


def saved_video(host, outputs: dict) -> str:
    (entry,) = outputs["10"]["images"]
    return os.path.join(host.folder_paths.get_output_directory(), entry["subfolder"], entry["filename"])


def test_nodes_are_registered_with_tooltips_and_categories(host):
    assert {n for n in host.nodes.NODE_CLASS_MAPPINGS if n.startswith("STV_")} == OUR_NODES
    for node_id in OUR_NODES:
        node = host.nodes.NODE_CLASS_MAPPINGS[node_id]
        info = node.GET_SCHEMA().get_v1_info(node)
        assert info.category.startswith("StreamingT2V/")
        inputs = {**info.input["required"], **info.input.get("optional", {})}
        assert inputs and all(opts[1].get("tooltip") for opts in inputs.values()), node_id


def test_text_to_video_with_core_ksampler_vae_decode_and_save_video(host):
    outputs = host.run(text_to_video(frames=16, width=64, height=48, prefix="stv_t2v"))
    path = saved_video(host, outputs)
    assert path.endswith(".mp4") and os.path.getsize(path) > 0
    assert video_frames(path) == (16, 64, 48)


@pytest.mark.parametrize("sampler, scheduler", [("euler", "normal"), ("euler_ancestral", "karras"), ("dpmpp_2m", "karras"),
                                                ("ddim", "ddim_uniform"), ("uni_pc", "simple")])
def test_core_samplers_run_on_the_model(host, sampler, scheduler):
    host.run(sample_only(sampler=sampler, scheduler=scheduler))
    latent = latest_latent(host, f"{sampler}_{scheduler}")
    assert latent.shape == (16, 4, 6, 8)
    assert torch.isfinite(latent).all() and latent.std() > 0.1


def latest_latent(host, name: str) -> torch.Tensor:
    from safetensors.torch import load_file
    folder = os.path.join(host.folder_paths.get_output_directory(), "latents")
    newest = max((f for f in os.listdir(folder) if f.startswith(name)), key=lambda f: os.path.getmtime(os.path.join(folder, f)))
    return load_file(os.path.join(folder, newest))["latent_tensor"]


@pytest.mark.parametrize("unet_name", [SINGLE_FILE_FP16, MODELSCOPE_PTH])
def test_every_file_format_loads_through_the_node(host, unet_name):
    node = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadModelScopeT2V"]
    patcher = node.execute(unet_name=unet_name, weight_dtype="default").result[0]
    assert patcher.model.diffusion_model.dtype == torch.float32  # CPU computes in fp32 whatever the file holds
    assert patcher.model.get_dtype() == torch.float32


def test_cond_and_uncond_batched_together_equal_separate_calls(host):
    node = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadModelScopeT2V"]
    model = node.execute(unet_name=SINGLE_FILE_FP16, weight_dtype="default").result[0].model
    frames, g = 4, torch.Generator().manual_seed(0)
    x = torch.randn(2 * frames, 4, 6, 8, generator=g)
    sigma = torch.full((2 * frames,), 3.0)
    context = torch.randn(2, 77, 1024, generator=g).repeat_interleave(frames, dim=0)
    with torch.inference_mode():
        together = model.apply_model(x, sigma, c_crossattn=context, num_frames=frames)
        apart = torch.cat([model.apply_model(x[i:i + frames], sigma[i:i + frames], c_crossattn=context[i:i + frames],
                                             num_frames=frames) for i in (0, frames)])
    error = relative_error(together, apart)
    print(f"batched vs separate: max err {error:.2e} of the output scale {float(apart.abs().max()):.2f}")
    assert error < FLOAT32_REORDERED  # the sums run in another order (1.22e-5 absolute of an output near 2 was seen)
    assert relative_error(together[:frames], together[frames:]) > 1e-2  # the two halves really differ


def test_memory_estimate_grows_with_frames(host):
    node = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadModelScopeT2V"]
    model = node.execute(unet_name=SINGLE_FILE_FP16, weight_dtype="default").result[0].model
    one, two = (model.memory_required([n, 4, 32, 32]) for n in (16, 32))
    assert two == pytest.approx(2 * one)
    # bench/unet_memory.py measured a 1.30 GiB peak for 32 fp32 frames of 32x32 latents on the full-size model
    assert two / 2**30 == pytest.approx(1.30, abs=0.01)


def test_memory_estimate_counts_frames_whatever_the_latents_rank(host):
    node = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadModelScopeT2V"]
    model = node.execute(unet_name=SINGLE_FILE_FP16, weight_dtype="default").result[0].model
    frames_in_batch = model.memory_required([32, 4, 32, 32])
    assert model.memory_required([2, 16, 4, 32, 32]) == frames_in_batch  # cond + uncond, 16 frames each
    assert model.memory_required([2, 4, 16, 32, 32]) == frames_in_batch  # channels before frames
    assert frames_in_batch / 2**30 == pytest.approx(1.30, abs=0.01)


def test_full_size_weights_default_to_bf16_on_a_cpu_with_little_ram(host, monkeypatch):
    """fp32 on CPU is the host's choice; below 32 GiB of RAM a full-size model is kept in bf16 and computed in fp32."""
    import comfy.model_management as mm
    model = host.pack_module("nodes.model")
    full_size = {"w": torch.empty(2 * 10**9, device="meta", dtype=torch.float16)}
    tiny = {"w": torch.empty(10**6, device="meta", dtype=torch.float16)}
    supported = [torch.float16, torch.bfloat16, torch.float32]
    monkeypatch.setattr(mm, "get_total_memory", lambda *a, **k: 24 * 10**9)
    assert model.choose_dtype("default", full_size, supported) == (torch.bfloat16, torch.float32)
    assert model.choose_dtype("default", tiny, supported) == (torch.float32, None)
    assert model.choose_dtype("fp32", full_size, supported) == (torch.float32, None)
    monkeypatch.setattr(mm, "get_total_memory", lambda *a, **k: 64 * 2**30)
    assert model.choose_dtype("default", full_size, supported) == (torch.float32, None)


@pytest.mark.parametrize("field, value, message", [
    ("width", 60, "width is 60; it must be a multiple of 8 .*use 64"),
    ("height", 44, "height is 44; it must be a multiple of 8 .*use 48"),
])
def test_sizes_the_vae_cannot_take_are_refused_before_running(host, field, value, message):
    graph = text_to_video(**{field: value})
    with pytest.raises(HostValidationError) as failure:
        host.run(graph)
    errors = failure.value.node_errors["6"]["errors"]
    assert any(__import__("re").search(message, e["details"]) for e in errors), errors


def test_zero_frames_are_refused_naming_the_input(host):
    with pytest.raises(HostValidationError) as failure:
        host.run(text_to_video(frames=0))
    errors = failure.value.node_errors["6"]["errors"]
    assert any("frames is 0; a video needs at least 1 frame" in e["details"] for e in errors), errors


def test_a_model_name_that_is_not_in_the_folder_is_refused_before_running(host):
    with pytest.raises(HostValidationError, match="nothere.safetensors is not in the streamingt2v models folder .*put the file there"):
        host.run(text_to_video(unet_name="nothere.safetensors"))


def test_a_vae_file_chosen_as_unet_says_what_it_is(host):
    with pytest.raises(HostExecutionError, match="looks like a VAE; expected a ModelScope text-to-video UNet"):
        host.run(text_to_video(unet_name=NOT_A_UNET))


def test_a_truncated_download_says_download_it_again(host):
    with pytest.raises(HostExecutionError, match="truncated or corrupt: download it again"):
        host.run(text_to_video(unet_name=TRUNCATED))


def test_loaded_weights_hold_the_file_values_in_the_process_own_memory(host, models_dir):
    """The file is memory-mapped for reading only: the parameters are copies (so the mapping and its pages can go)."""
    from st2v_modules.checkpoints.modelscope import load_unet3d_state_dict
    folder = os.path.join(models_dir, "streamingt2v", "text-to-video-ms-1.7b")
    sd, config = load_unet3d_state_dict(folder)
    expected = {k: v.clone() for k, v in sd.items()}
    patcher = host.pack_module("nodes.model").build_model_patcher(sd, config)
    weights = patcher.model.diffusion_model.state_dict()
    assert weights.keys() == expected.keys() and all(torch.equal(weights[k], v) for k, v in expected.items())
    mapped = [tuple(int(a, 16) for a in line.split()[0].split("-")) for line in open("/proc/self/maps") if "unet/diffusion" in line]
    assert mapped, "the weights file is memory-mapped while its state dict lives"
    assert not any(start <= v.data_ptr() < end for v in weights.values() for start, end in mapped)


def test_core_latent_upscale_works_on_frames_in_the_batch(host):
    graph = sample_only(steps=2)
    graph["12"] = {"class_type": "LatentUpscale", "inputs": {"samples": ["6", 0], "upscale_method": "nearest-exact",
                                                             "width": 96, "height": 64, "crop": "disabled"}}
    graph["7"]["inputs"]["latent_image"] = ["12", 0]
    graph["11"]["inputs"]["filename_prefix"] = "latents/upscaled"
    host.run(graph)
    assert latest_latent(host, "upscaled").shape == (16, 4, 8, 12)
