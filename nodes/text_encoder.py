"""StreamingT2V's text encoder as a host CLIP, built as the file has it: the OpenCLIP ViT-H text tower converted SD-2
style, whose last block was dropped (23 layers; spec 1.3) and which has no text projection. Its last hidden state after
the final layer norm is the conditioning the UNet was trained on, the same values an SD 2 CLIP gives at its
penultimate layer."""
from __future__ import annotations

import os
import re
from types import SimpleNamespace

import torch

import comfy.clip_model
import comfy.sd
import comfy.sd1_clip
import comfy.text_encoders.sd2_clip
import comfy.utils

SD2_CONFIG = os.path.join(os.path.dirname(comfy.text_encoders.sd2_clip.__file__), "sd2_clip_config.json")
HEAD_WIDTH = 64  # OpenCLIP ViT-H: 16 heads of 64


class UnprojectedTextModel(comfy.clip_model.CLIPTextModel):
    """The text tower without `text_projection`; the pooled output is the final-normed end token, unprojected."""

    def __init__(self, config_dict, dtype, device, operations):
        torch.nn.Module.__init__(self)
        self.num_layers = config_dict["num_hidden_layers"]
        self.text_model = comfy.clip_model.CLIPTextModel_(config_dict, dtype, device, operations)
        self.dtype = dtype

    def forward(self, *args, **kwargs):
        hidden, intermediate, pooled = self.text_model(*args, **kwargs)
        return hidden, intermediate, pooled, pooled


class StreamingT2VClipH(comfy.sd1_clip.SDClipModel):
    """SD 2's CLIP-H settings (tokens, padding) on the unprojected tower, reading its last layer."""

    def __init__(self, device="cpu", dtype=None, model_options={}, **kwargs):
        super().__init__(device=device, dtype=dtype, layer="last", textmodel_json_config=SD2_CONFIG, model_options=model_options,
                         special_tokens={"start": 49406, "end": 49407, "pad": 0}, return_projected_pooled=False,
                         model_class=UnprojectedTextModel)


def tower_config(sd: dict[str, torch.Tensor]) -> dict[str, int]:
    """Layers and widths read off the weights (`text_model.*` keys), so the model has exactly the file's layers."""
    layers = {int(m.group(1)) for k in sd if (m := re.match(r"text_model\.encoder\.layers\.(\d+)\.", k))}
    hidden = sd["text_model.embeddings.token_embedding.weight"].shape[1]
    return {"num_hidden_layers": len(layers), "hidden_size": hidden, "num_attention_heads": hidden // HEAD_WIDTH,
            "intermediate_size": sd["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
            "max_position_embeddings": sd["text_model.embeddings.position_embedding.weight"].shape[0]}


def load_text_encoder(sd: dict[str, torch.Tensor]) -> comfy.sd.CLIP:
    """A host CLIP (tokenizer, patcher, model management as core Load CLIP gives) holding exactly these weights."""
    target = SimpleNamespace(clip=comfy.text_encoders.sd2_clip.SD2ClipModel, tokenizer=comfy.text_encoders.sd2_clip.SD2Tokenizer,
                             params={})
    options = {"clip_h_class": StreamingT2VClipH, "clip_h_model_config": tower_config(sd)}
    clip = comfy.sd.CLIP(target, parameters=comfy.utils.calculate_parameters(sd), model_options=options)
    missing, unexpected = clip.load_sd(sd)
    if missing or unexpected:
        raise ValueError(f"The checkpoint's text encoder is not an OpenCLIP ViT-H text tower: {len(missing)} weights missing "
                         f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}).")
    return clip
