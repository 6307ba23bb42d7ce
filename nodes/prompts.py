"""Prompts longer than the official 77 tokens, in every stage: the official tokenizers (CLIP's for stages 1 and 2,
`max_length=77, truncation=True`, and OpenCLIP's for the enhancer) keep the start token, the first 75 tokens and the
end token. The host splits a longer prompt into blocks of 77 encoded one by one; its first block is that cut (a
weighted `(...:w)` group across the cut moves whole into the next block), so each stage keeps the first block."""
from __future__ import annotations

import logging

import torch

from ..st2v_modules.models.apm import TEXT_TOKENS

_said: set[str] = set()


def log_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        logging.warning(message)


def first_block(context: torch.Tensor, stage: str) -> torch.Tensor:
    """A conditioning of several 77-token blocks cut to its first, said once per stage."""
    if context.shape[1] <= TEXT_TOKENS:
        return context
    log_once(f"StreamingT2V: the prompt of {stage} is longer than {TEXT_TOKENS} tokens ({context.shape[1] // TEXT_TOKENS} "
             f"blocks); like the official tokenizer, {stage} keeps the first block (the start token, the first {TEXT_TOKENS - 2} "
             "tokens, the end token) and drops the rest.")
    return context[:, :TEXT_TOKENS]
