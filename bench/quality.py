"""Drift of the extend loop: runs StreamingT2V Extend chunk after chunk and prints the per-chunk drift curves
(st2v_modules.metrics), so a change to the loop can be checked for drifting more than before.

Tiny mode (default): the fixtures' tiny official-layout weights with a random TAESD VAE and ViT-H image encoder,
CPU, 256x256, a synthetic 16-frame start; the numbers exercise the measurement, not a trained model.
The paper's setting: --checkpoint streaming_t2v.ckpt --start-video first_chunk.mp4 --prompt "..." runs 600
frames with 50 DDIM steps; --raft-weights adds MAWE, --text-clip (a complete OpenCLIP ViT-H/14 text encoder,
e.g. an SD 2.x checkpoint) the CLIP text score.
Last line: `quality: chunks=... frames=... <curve>_first=... <curve>_last=... <curve>_drift=... [mawe=...] ...`
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

from tiny_extend import SIZE, boot_host, extend_request, load_checkpoint, load_tiny, write_tiny_models

from st2v_modules.sampling.chunks import EXTEND_CHUNK_FRAMES, NEW_FRAMES_PER_CHUNK

START_FRAMES = EXTEND_CHUNK_FRAMES  # a first chunk
PAPER_FRAMES, PAPER_STEPS = 600, 50
SUMMARY_CURVES = ("brightness", "contrast", "saturation", "anchor_pixel_distance", "anchor_clip_similarity",
                  "clip_text_score", "motion", "mawe")


def synthetic_start(frames: int = START_FRAMES):
    """A smooth colour pattern panning right: structure for the anchor and the CAM to hold on to."""
    import torch
    y, x = torch.meshgrid(torch.linspace(0, 6, SIZE), torch.linspace(0, 6, SIZE), indexing="ij")
    pattern = torch.stack([torch.sin(x + y), torch.cos(2 * x - y), torch.sin(3 * y)], dim=-1) * 0.3 + 0.5
    return torch.stack([torch.roll(pattern, 4 * t, dims=1) for t in range(frames)])


def conditioning(clip, text: str) -> list | None:
    return clip.encode_from_tokens_scheduled(clip.tokenize(text)) if clip is not None else None


def run(args: argparse.Namespace, models: str) -> tuple[dict, float]:
    import torch
    from st2v_modules.metrics import RaftFlow, load_raft, measure_video
    from st2v_modules.video_files.reader import read_video
    h = boot_host(models)
    import comfy.model_management
    import comfy.sd
    if args.checkpoint:
        pieces, start = load_checkpoint(h, args.checkpoint), read_video(args.start_video, START_FRAMES)
    else:
        write_tiny_models(models)
        pieces, start = load_tiny(h, models), synthetic_start()
    positive, negative = conditioning(pieces.clip, args.prompt), conditioning(pieces.clip, args.negative_prompt)
    request = extend_request(pieces, start, args.frames, args.steps, output_frames="all", prefix="bench/quality",
                             positive=positive, negative=negative, seed=args.seed)
    began = time.perf_counter()
    with torch.inference_mode():
        frames, _ = pieces.engine.extend(request)
    extend_seconds = time.perf_counter() - began
    measuring = h.pack_module("nodes.measuring")
    device = comfy.model_management.get_torch_device()
    flow = RaftFlow(load_raft(args.raft_weights, device), device) if args.raft_weights else None
    image_embeds = measuring.frame_embeddings(pieces.clip_vision, frames) if args.clip_similarity or args.text_clip else None
    text_embed = None
    if args.text_clip:
        text_clip = comfy.sd.load_clip([args.text_clip], clip_type=comfy.sd.CLIPType.STABLE_DIFFUSION)
        text_embed = measuring.prompt_embedding(text_clip, args.prompt, pieces.clip_vision)
    return measure_video(frames, flow, args.mawe_size, image_embeds=image_embeds, text_embed=text_embed), extend_seconds


def print_curves(report: dict) -> None:
    chunks = report["chunks"]
    columns = ["first_frame"] + [c for c in chunks if c not in ("first_frame", "frames")]
    print(" ".join(f"{c:>22}" for c in columns))
    for i in range(len(chunks["first_frame"])):
        print(" ".join(f"{chunks[c][i]:>22.6g}" if chunks[c][i] is not None else f"{'-':>22}" for c in columns))


def summary_line(report: dict, args: argparse.Namespace, extend_seconds: float) -> str:
    chunks, fields = report["chunks"], [f"chunks={len(report['chunks']['first_frame'])}", f"frames={report['frames']}"]
    for curve in SUMMARY_CURVES:
        if curve in chunks:
            fields += [f"{curve}_first={chunks[curve][0]:.5g}", f"{curve}_last={chunks[curve][-1]:.5g}",
                       f"{curve}_drift={report['drift'][curve]:.5g}"]
    if "mawe" in report:
        fields += [f"mawe={report['mawe']:.5g}" if math.isfinite(report["mawe"]) else "mawe=undefined", f"mawe_size={report['mawe_size']}"]
    if "clip_text_score" in report:
        fields.append(f"clip_text_score={report['clip_text_score']:.5g}")
    fields += [f"steps={args.steps}", f"extend_seconds={extend_seconds:.1f}", f"weights={'checkpoint' if args.checkpoint else 'tiny'}"]
    return "quality: " + " ".join(fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=6, help="extension chunks of 8 frames after the 16 start frames (tiny mode)")
    parser.add_argument("--frames", type=int, help=f"total frames (default: 16 + 8 x chunks; with --checkpoint {PAPER_FRAMES})")
    parser.add_argument("--steps", type=int, help=f"sampler steps per chunk (default: 1; with --checkpoint {PAPER_STEPS})")
    parser.add_argument("--seed", type=int, default=33)
    parser.add_argument("--checkpoint", help="streaming_t2v.ckpt (or its .safetensors): the paper's weights")
    parser.add_argument("--start-video", help="with --checkpoint: the 16-frame first chunk (mp4 or PNG folder) made by ModelScope T2V")
    parser.add_argument("--prompt", default="", help="with --checkpoint: the prompt of the first chunk")
    parser.add_argument("--negative-prompt", default="")
    parser.add_argument("--raft-weights", help="raft_large_C_T_SKHT_V2-ff5fadd5.pth: adds MAWE")
    parser.add_argument("--mawe-size", type=int, default=720, help="MAWE working size (official 720)")
    parser.add_argument("--clip-similarity", action="store_true",
                        help="anchor similarity in CLIP space with the image encoder (slow on CPU: seconds per frame)")
    parser.add_argument("--text-clip", help="a complete OpenCLIP ViT-H/14 text encoder file: adds the CLIP text score (needs --prompt)")
    parser.add_argument("--out", help="folder for report.json and drift.png")
    args = parser.parse_args()
    if args.checkpoint and not (args.start_video and args.prompt):
        parser.error("--checkpoint needs --start-video (the first chunk) and --prompt.")
    if args.text_clip and not args.prompt:
        parser.error("--text-clip needs --prompt.")
    args.frames = args.frames or (PAPER_FRAMES if args.checkpoint else START_FRAMES + NEW_FRAMES_PER_CHUNK * args.chunks)
    args.steps = args.steps or (PAPER_STEPS if args.checkpoint else 1)
    with tempfile.TemporaryDirectory() as models:
        report, extend_seconds = run(args, models)
    print_curves(report)
    if args.out:
        from PIL import Image
        from st2v_modules.metrics import drift_plot, to_json
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "report.json"), "w") as f:
            f.write(to_json(report))
        Image.fromarray(drift_plot(report)).save(os.path.join(args.out, "drift.png"))
    for note in report["notes"]:
        print("note:", note)
    print(summary_line(report, args, extend_seconds))


if __name__ == "__main__":
    main()
