"""All metrics of one video as one JSON-ready dict: MAWE, CLIP text alignment, and the per-chunk drift curves."""
from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import torch

from ..sampling.chunks import EXTEND_CHUNK_FRAMES, NEW_FRAMES_PER_CHUNK
from . import clip_similarity, drift
from .frame_input import Frames, check_frames
from .mawe import OFFICIAL_COEFF, OFFICIAL_SIZE, FlowFunction, MaweResult, mawe
from .plot import plot_curves

MINIMUM_FRAMES = 2
TEXT_NOTE = ("clip_text_score is 100 x cosine(frame, prompt) in CLIP's joint space; it needs the projected text feature "
             "of the full OpenCLIP ViT-H/14 text tower (24 layers + text projection). StreamingT2V's and ModelScope's "
             "text encoders stop one layer early and have no projection, so they cannot give it.")
SPAN_KEYS = ("first_frame", "frames")


def measure_video(frames: Frames, flow: FlowFunction | None = None, size: int = OFFICIAL_SIZE, coeff: float = OFFICIAL_COEFF,
                  image_embeds: torch.Tensor | None = None, text_embed: torch.Tensor | None = None,
                  progress: Callable[[int, int], None] | None = None, name: str = "images") -> dict:
    """Frames `[N, H, W, 3]` in 0..1 -> the report. Each part runs when its input is given: MAWE with `flow`, the anchor
    CLIP similarity with `image_embeds` (`[N, D]`, one per frame), the text alignment with both embeddings.

    Keys: the summary (frames, width, height, mawe, warp_error, motion, clip_text_score, notes), `chunks` (one list per
    curve, one value per chunk), `drift` (last chunk minus first), then the raw per-pair and per-frame values."""
    check_video(frames, name)
    if image_embeds is not None and len(image_embeds) != len(frames):
        raise ValueError(f"{len(image_embeds)} image embeddings for {len(frames)} frames; pass one per frame.")
    spans = drift.chunk_spans(len(frames))
    height, width = frames[0].shape[:2]
    summary: dict = {"frames": len(frames), "width": width, "height": height}
    notes: list[str] = []
    chunks: dict[str, list] = {"first_frame": [s.start for s in spans], "frames": [len(s) for s in spans]}
    details: dict = {}
    for key, values in drift.frame_statistics(frames).items():
        chunks[key] = drift.per_chunk(values, spans)
    if flow is None:
        notes.append("MAWE not measured: no optical flow weights given.")
    else:
        result = mawe(frames, flow, size, coeff, progress, name)
        summary.update(mawe=result.mawe, mawe_size=result.size, mawe_coeff=result.coeff,
                       warp_error=float(np.mean(result.warp_errors)), motion=float(np.mean(result.motions)))
        notes += mawe_notes(result)
        chunks.update(mawe_chunks(result, spans))
        details["per_pair"] = {"warp_error": result.warp_errors, "motion": result.motions}
    if image_embeds is not None:
        chunks["anchor_clip_similarity"] = drift.per_chunk(clip_similarity.anchor_similarity(image_embeds), spans)
    if image_embeds is not None and text_embed is not None:
        scores = clip_similarity.text_alignment(image_embeds, text_embed)
        summary["clip_text_score"] = scores.mean().item()
        chunks["clip_text_score"] = drift.per_chunk(scores, spans)
        details["per_frame"] = {"clip_text_score": scores.tolist()}
        notes.append(TEXT_NOTE)
    curves = {k: v for k, v in chunks.items() if k not in SPAN_KEYS}
    return {**summary, "notes": notes, "chunks": chunks, "drift": {k: v[-1] - v[0] for k, v in curves.items()}, **details}


def check_video(frames: Frames, name: str = "images") -> None:
    """At least 2 frames of one size; cheap, so callers can refuse before loading any model."""
    check_frames(frames, minimum=MINIMUM_FRAMES, purpose="the metrics compare frames over time", name=name)


def mawe_notes(result: MaweResult) -> list[str]:
    if math.isfinite(result.mawe):
        return []
    still = sum(m == 0 for m in result.motions)
    return [f"MAWE is undefined: {still} frame pair(s) have no motion at all (the paper's formula divides the warp error "
            "by the motion)."]


def mawe_chunks(result: MaweResult, spans: list[range]) -> dict[str, list[float]]:
    """Motion, warp error and MAWE of the frame pairs that end in each chunk."""
    ratios = [e / (result.coeff * m) if m > 0 else math.nan for e, m in zip(result.warp_errors, result.motions)]
    return {"motion": drift.pairs_per_chunk(result.motions, spans), "warp_error": drift.pairs_per_chunk(result.warp_errors, spans),
            "mawe": drift.pairs_per_chunk(ratios, spans)}


def drift_plot(report: dict) -> np.ndarray:
    """The per-chunk curves of a report as an uint8 `[H, W, 3]` picture."""
    curves = {k: v for k, v in report["chunks"].items() if k not in SPAN_KEYS}
    return plot_curves(curves, f"{report['frames']} frames: chunk 0 = frames 0-{EXTEND_CHUNK_FRAMES - 1}, then "
                               f"{NEW_FRAMES_PER_CHUNK} new frames per chunk")


def to_json(report: dict) -> str:
    """Strict JSON: undefined numbers (NaN, infinity) become null."""
    return json.dumps(finite(report))


def finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
