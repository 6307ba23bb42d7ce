"""CLIP similarities from embeddings: the paper's text alignment (image vs prompt) and the anchor similarity of drift.

Embeddings come from outside (the host's CLIP vision and CLIP, or transformers' CLIPModel in the command line), so
this file needs no model. Both sides must be projected into CLIP's joint space by the same CLIP model.
"""
from __future__ import annotations

import torch

CLIP_SCORE_SCALE = 100.0  # the text alignment is reported as 100 x cosine, the usual "CLIP score" of video papers


def check_embeddings(embeddings: torch.Tensor, name: str) -> torch.Tensor:
    """Float32 `[N, D]`; refuses the NaN / all-zero vectors a text encoder without its projection layer gives."""
    embeddings = embeddings.reshape(-1, embeddings.shape[-1]).float()
    if not torch.isfinite(embeddings).all() or (embeddings.norm(dim=-1) == 0).any():
        raise ValueError(f"the {name} embedding is not a usable vector (NaN or all zeros): the model has missing weights, "
                         "e.g. a text encoder without its last layer and text projection.")
    return embeddings


def cosine_to(embeddings: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Cosine of every row of `[N, D]` with the one `[D]` (or `[1, D]`) reference."""
    return torch.nn.functional.cosine_similarity(embeddings, reference.reshape(1, -1), dim=-1)


def text_alignment(image_embeds: torch.Tensor, text_embed: torch.Tensor) -> torch.Tensor:
    """Per frame 100 x cosine(image, prompt): `[N]`."""
    images, text = check_embeddings(image_embeds, "image"), check_embeddings(text_embed, "text")
    if images.shape[-1] != text.shape[-1]:
        raise ValueError(f"the text embedding is {text.shape[-1]}-d but the image embeddings are {images.shape[-1]}-d: "
                         "text and images must come from one CLIP model (for StreamingT2V: OpenCLIP ViT-H/14, 1024-d).")
    return CLIP_SCORE_SCALE * cosine_to(images, text[0])


def anchor_similarity(image_embeds: torch.Tensor) -> torch.Tensor:
    """Per frame cosine with frame 0, the appearance anchor StreamingT2V's APM holds on to: `[N]`."""
    images = check_embeddings(image_embeds, "image")
    return cosine_to(images, images[0])
