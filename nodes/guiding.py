"""The guider of one chunk: plain CFG for the simple nodes, or a copy of the user's GUIDER (CFGGuider, DualCFGGuider,
PerpNegGuider, any pack's) with the chunk's model and conditions, so the user's guidance drives every chunk."""
from __future__ import annotations

import copy
from collections.abc import Callable

import comfy.samplers

Conds = dict[str, list]  # conditioning by the guider's names ("positive", "negative", ...), as nodes pass it
GuiderFactory = Callable[[object, Conds], comfy.samplers.CFGGuider]
"""(model, conds) -> a guider ready to sample one chunk."""

UNCONDITIONAL_CONDS = ("negative", "empty_negative_prompt")  # the host's names of the unconditional branches
HOST_COND_KEYS = ("cross_attn", "uuid")  # what the host adds when a guider takes conditioning


def cfg_guider(cfg: float) -> GuiderFactory:
    def make(model, conds: Conds) -> comfy.samplers.CFGGuider:
        guider = comfy.samplers.CFGGuider(model)
        guider.inner_set_conds(conds)
        guider.set_cfg(cfg)
        return guider
    return make


def like_guider(template: comfy.samplers.CFGGuider) -> GuiderFactory:
    """The user's guider (its class and settings) on another model and other conditions."""
    def make(model, conds: Conds) -> comfy.samplers.CFGGuider:
        guider = copy.copy(template)
        guider.model_patcher, guider.model_options, guider.original_conds = model, model.model_options, {}
        guider.inner_set_conds(conds)
        return guider
    return make


def guider_conds(guider: comfy.samplers.CFGGuider) -> Conds:
    """A guider's conditioning back in the form nodes pass it, `[[tokens, {extras}], ...]` per name."""
    return {name: [[c["cross_attn"], {k: v for k, v in c.items() if k not in HOST_COND_KEYS}] for c in entries]
            for name, entries in guider.original_conds.items()}


def describe_guider(guider: comfy.samplers.CFGGuider) -> dict:
    """What the manifest records of a user's guider: its class and its numeric settings."""
    settings = {k: v for k, v in vars(guider).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {"guider": type(guider).__name__, **settings}
