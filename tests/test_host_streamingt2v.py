"""StreamingT2V in the real ComfyUI: official-layout weights, one chunk conditioned by CAM + APM, core KSampler."""
import os

import pytest
import torch
from safetensors.torch import load_file

from helpers.graphs import streamingt2v_chunk
from helpers.host import HostExecutionError

pytestmark = pytest.mark.host


def sampled(host, **kwargs) -> torch.Tensor:
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


def test_bf16_weights_run_on_cpu_close_to_fp32(host):
    full = sampled(host, prefix="fp32")
    reduced = sampled(host, prefix="bf16", weight_dtype="bf16")
    assert torch.isfinite(reduced).all()
    assert (reduced - full).abs().max() < 0.1 * full.abs().max()


def test_too_few_condition_frames_are_refused(host):
    with pytest.raises(HostExecutionError, match="condition_frames has 5 frames; the CAM needs the last 8"):
        host.run(streamingt2v_chunk(condition_frames=5))


def test_condition_frames_of_another_size_than_the_chunk_are_refused(host):
    with pytest.raises(HostExecutionError, match="conditioning frames are 32x48 pixels but the latent is 64x48"):
        host.run(streamingt2v_chunk(frame_size=(32, 48)))


def test_the_modelscope_loader_refuses_the_streamingt2v_checkpoint(host):
    from helpers.fake_models import STREAMINGT2V_CKPT
    node = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadModelScopeT2V"]
    with pytest.raises(Exception, match="StreamingT2V checkpoint .*Load StreamingT2V"):
        node.execute(unet_name=STREAMINGT2V_CKPT, weight_dtype="default")


def test_the_checkpoints_frozen_parts_map_onto_the_host_models(host, caplog):
    """Key level, full size, on the meta device: text encoder -> SD2 CLIP-H, VAE -> core VAE, image encoder -> ViT-H."""
    import json
    import logging

    import comfy.clip_model
    import comfy.clip_vision
    import comfy.ops
    import comfy.sd
    import comfy.utils
    from helpers.fixtures import manifest_shapes
    from st2v_modules.checkpoints.streamingt2v import streamingt2v_from_state_dict

    weights = streamingt2v_from_state_dict({k: torch.empty(s, device="meta") for k, s in manifest_shapes().items()}, "full")
    shapes = lambda sd: {k: tuple(v.shape) for k, v in sd.items()}  # noqa: E731
    config_dir = os.path.dirname(comfy.clip_vision.__file__)

    visual = {k: v for k, v in weights.image_encoder.items() if k.startswith("model.visual.")}
    converted = comfy.clip_vision.convert_to_transformers(dict(visual), "model.visual.")
    with open(os.path.join(config_dir, "clip_vision_config_h.json")) as f:
        vision = comfy.clip_model.CLIPVisionModelProjection(json.load(f), torch.float32, "meta", comfy.ops.manual_cast)
    assert shapes(converted) == shapes(vision.state_dict())
    assert len(weights.image_encoder) - len(visual) == 6  # open_clip's text-side leftovers, deliberately unused

    text = comfy.sd.load_text_encoder_state_dicts.__globals__["detect_te_model"](weights.text_encoder)
    assert text == comfy.sd.TEModel.CLIP_H
    with open(os.path.join(config_dir, "text_encoders", "sd2_clip_config.json")) as f:
        text_model = comfy.clip_model.CLIPTextModel(json.load(f), torch.float32, "meta", comfy.ops.manual_cast)
    expected = shapes(text_model.state_dict())
    ours = shapes(weights.text_encoder)
    assert all(expected[k] == s for k, s in ours.items())
    # the published text encoder has 23 of the 24 layers: the last is never used (penultimate-layer output)
    assert {k for k in expected if k not in ours} <= {k for k in expected if ".layers.23." in k or "text_projection" in k}
    text_encoder = host.pack_module("nodes.text_encoder")
    with open(text_encoder.SD2_CONFIG) as f:
        config = {**json.load(f), **text_encoder.tower_config(weights.text_encoder)}
    assert config["num_hidden_layers"] == 23
    built = text_encoder.UnprojectedTextModel(config, torch.float32, "meta", comfy.ops.manual_cast)
    assert shapes(built.state_dict()) == ours  # what the loader builds: exactly the file's weights

    with caplog.at_level(logging.WARNING), torch.device("meta"):
        comfy.sd.VAE(sd=dict(weights.vae))
    assert "Missing VAE keys" not in caplog.text and "Leftover VAE keys" not in caplog.text


def test_the_text_encoder_is_built_with_the_files_layers_and_gives_their_last_hidden_state(host, caplog):
    """No 24th layer and no projection left uninitialised: the output is the tower's last layer after the final norm,
    as the official pipeline reads it (transformers' CLIPTextModel, `last_hidden_state`)."""
    import logging
    from transformers import CLIPTextConfig, CLIPTextModel
    config = CLIPTextConfig(hidden_size=128, intermediate_size=512, num_attention_heads=2, num_hidden_layers=2, hidden_act="gelu",
                            vocab_size=49408, max_position_embeddings=77, eos_token_id=49407)
    torch.manual_seed(0)
    reference = CLIPTextModel(config).half().float().eval()  # the weights as the host keeps them on CPU (fp16)
    sd = {("" if k.startswith("text_model.") else "text_model.") + k: v for k, v in reference.state_dict().items()
          if not k.endswith("position_ids")}
    with caplog.at_level(logging.WARNING):
        clip = host.pack_module("nodes.text_encoder").load_text_encoder(sd)
    assert "clip missing" not in caplog.text
    params = dict(clip.cond_stage_model.named_parameters())
    assert not any("text_projection" in k for k in params)
    assert sum(".layers.1.layer_norm1.weight" in k for k in params) == 1 and not any(".layers.2." in k for k in params)
    assert all(torch.isfinite(p).all() for p in params.values())

    tokens = clip.tokenize("a red fox runs through the snow")
    cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)
    ids = torch.tensor([[token for token, _ in tokens["h"][0]]])
    with torch.no_grad():
        expected = reference(input_ids=ids).last_hidden_state
    assert cond.shape == expected.shape == (1, 77, 128)
    assert (cond - expected).abs().max() < 1e-2 * expected.abs().max()
    assert torch.isfinite(pooled).all()
