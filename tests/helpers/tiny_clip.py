"""A tiny random CLIP in transformers format (model, tokenizer, image processor), as `--clip-model` takes it."""
from __future__ import annotations

import string

TOKEN_CHARACTERS = string.ascii_lowercase + string.digits + ".,!?'-"


def write_tiny_clip(folder: str) -> None:
    """16-d joint space, 32x32 images, a character-level vocabulary: enough to run every code path."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer
    vocab = {c: i for i, c in enumerate(TOKEN_CHARACTERS)}
    vocab.update({c + "</w>": len(TOKEN_CHARACTERS) + i for i, c in enumerate(TOKEN_CHARACTERS)})
    start, end = len(vocab), len(vocab) + 1
    vocab.update({"<|startoftext|>": start, "<|endoftext|>": end})
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    config = CLIPConfig(text_config=dict(tower, vocab_size=len(vocab), max_position_embeddings=77, bos_token_id=start,
                                         eos_token_id=end, pad_token_id=end),
                        vision_config=dict(tower, image_size=32, patch_size=8), projection_dim=16)
    CLIPModel(config).save_pretrained(folder)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                              tokenizer=CLIPTokenizer(vocab=vocab, merges=[]))
    processor.save_pretrained(folder)
