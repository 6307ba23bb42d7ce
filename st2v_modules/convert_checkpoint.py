"""Convert streaming_t2v.ckpt into a pickle-free .safetensors that loads faster (optionally fp16).

    M=../../models/streamingt2v   # from ComfyUI/custom_nodes/<this pack>
    python -m st2v_modules.convert_checkpoint $M/streaming_t2v.ckpt $M/streaming_t2v_fp16.safetensors --fp16

Only the model weights are kept; the Lightning file's optimizer state (about half of its 25.6 GB) is never read.
"""
from __future__ import annotations

import argparse

from .checkpoints.convert import convert


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="streaming_t2v.ckpt (or any layout Load StreamingT2V reads)")
    parser.add_argument("target", help="the .safetensors file to write (in models/streamingt2v/ so Load StreamingT2V lists it)")
    parser.add_argument("--fp16", action="store_true", help="store the weights in half precision (half the size)")
    args = parser.parse_args(argv)
    try:
        print(convert(args.source, args.target, args.fp16))
    except ValueError as error:  # a missing or unusable file (CheckpointError) or a bad target name
        parser.error(str(error))


if __name__ == "__main__":
    main()
