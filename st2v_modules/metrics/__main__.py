"""`python -m st2v_modules.metrics VIDEO`: scores an mp4 or a folder of PNG frames and prints the JSON report.

MAWE needs `--raft-weights` (torchvision's raft_large_C_T_SKHT_V2-ff5fadd5.pth); the CLIP text score needs
`--prompt` and `--clip-model` (a transformers CLIP folder). Nothing is downloaded.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch
from PIL import Image

from ..video_files.reader import read_video
from .mawe import OFFICIAL_COEFF, OFFICIAL_SIZE
from .optical_flow import RAFT_FILE, RaftFlow, check_flow_size, load_raft
from .report import check_video, drift_plot, measure_video, to_json


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m st2v_modules.metrics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", help="an .mp4 file or a folder of numbered .png frames")
    parser.add_argument("--raft-weights", help=f"RAFT-large weights for MAWE ({RAFT_FILE}); without it MAWE is skipped")
    parser.add_argument("--size", type=int, default=OFFICIAL_SIZE, help="MAWE working size in pixels (official: 720)")
    parser.add_argument("--coeff", type=float, default=OFFICIAL_COEFF, help="MAWE's c (official: 9.5)")
    parser.add_argument("--prompt", help="the prompt, for the CLIP text score (needs --clip-model)")
    parser.add_argument("--clip-model", help="a transformers CLIP folder, e.g. laion/CLIP-ViT-H-14-laion2B-s32B-b79K")
    parser.add_argument("--max-frames", type=int, help="score only the first N frames")
    parser.add_argument("--plot", help="also save the per-chunk curves as this PNG")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.prompt and not args.clip_model:
        parser.error("--prompt needs --clip-model: a folder with a CLIP model in transformers format (for StreamingT2V "
                     "laion/CLIP-ViT-H-14-laion2B-s32B-b79K).")
    if not os.path.exists(args.video):
        parser.error(f"{args.video} does not exist.")
    if args.raft_weights and not os.path.isfile(args.raft_weights):
        parser.error(f"--raft-weights {args.raft_weights} is not a file; download {RAFT_FILE} from "
                     "https://download.pytorch.org/models/ and give its path.")
    return args


def score(args: argparse.Namespace) -> dict:
    frames = read_video(args.video, args.max_frames)
    name = os.path.basename(args.video)
    check_video(frames, name)
    flow = None
    if args.raft_weights:
        check_flow_size(args.size, "--size")
        flow = RaftFlow(load_raft(args.raft_weights, args.device), args.device)
    image_embeds = text_embed = None
    if args.clip_model:
        from .transformers_clip import TransformersClip
        clip = TransformersClip(args.clip_model, args.device)
        image_embeds = clip.image_embeds(frames)
        text_embed = clip.text_embed(args.prompt) if args.prompt else None
    return measure_video(frames, flow, args.size, args.coeff, image_embeds, text_embed, name=name,
                         progress=lambda done, total: print(f"MAWE: pair {done}/{total}", file=sys.stderr))


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        report = score(args)
    except ValueError as error:  # also CheckpointError: bad input, said in words
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.plot:
        Image.fromarray(drift_plot(report)).save(args.plot)
    print(to_json(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
