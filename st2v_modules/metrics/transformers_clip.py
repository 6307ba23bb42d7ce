"""CLIP embeddings for the command line, from a transformers CLIP folder the user downloaded (for StreamingT2V:
laion/CLIP-ViT-H-14-laion2B-s32B-b79K, the OpenCLIP ViT-H/14 it was trained with). Loaded from disk only."""
from __future__ import annotations

import numpy as np
import torch

from .frame_input import Frames, to_uint8

BATCH = 16


def projected(output) -> torch.Tensor:
    """transformers 4 returns the projected features, transformers 5 an output whose pooler_output holds them."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class TransformersClip:
    def __init__(self, folder: str, device: torch.device | str = "cpu"):
        from transformers import CLIPModel, CLIPProcessor
        self.device = torch.device(device)
        self.model = CLIPModel.from_pretrained(folder, local_files_only=True).eval().to(self.device)
        self.processor = CLIPProcessor.from_pretrained(folder, local_files_only=True)

    @torch.no_grad()
    def image_embeds(self, frames: Frames) -> torch.Tensor:
        """`[N, D]`, one projected embedding per frame."""
        out = []
        for start in range(0, len(frames), BATCH):
            images = [np.ascontiguousarray(to_uint8(frame).permute(1, 2, 0).numpy()) for frame in frames[start:start + BATCH]]
            pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
            out.append(projected(self.model.get_image_features(pixel_values=pixels)).float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def text_embed(self, prompt: str) -> torch.Tensor:
        """`[1, D]`, the projected embedding of the prompt."""
        tokens = self.processor(text=[prompt], return_tensors="pt", padding=True, truncation=True).to(self.device)
        return projected(self.model.get_text_features(input_ids=tokens["input_ids"],
                                                      attention_mask=tokens["attention_mask"])).float().cpu()
