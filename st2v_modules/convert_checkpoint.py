"""Convert streaming_t2v.ckpt into a pickle-free .safetensors that loads faster (optionally fp16).

    python -m st2v_modules.convert_checkpoint --fp16     # models/streamingt2v/streaming_t2v.ckpt -> streaming_t2v_fp16.safetensors
    python -m st2v_modules.convert_checkpoint SOURCE TARGET [--fp16]

Without paths it converts the official file in the models folder of the ComfyUI this pack is installed in
(or --models-dir) and writes the new file beside it, where Load StreamingT2V lists it. Only the model weights
are kept; the Lightning file's optimizer state (about half of its 25.6 GB) is never read.
"""
from __future__ import annotations

import argparse
import os

from .checkpoints.convert import convert
from .model_files.catalog import DOWNLOAD_COMMAND, find
from .model_files.location import MODELS_DIR_HELP, NO_MODELS_DIR, find_models_dir

OFFICIAL = find("streamingt2v")


def default_target(source: str, fp16: bool) -> str:
    stem = os.path.splitext(source)[0]
    return f"{stem}_fp16.safetensors" if fp16 else f"{stem}.safetensors"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", help=f"streaming_t2v.ckpt (or any layout Load StreamingT2V reads); default: "
                                                  f"models/{OFFICIAL.folder}/{OFFICIAL.path}")
    parser.add_argument("target", nargs="?", help="the .safetensors file to write; default: beside the source, "
                                                  "<name>.safetensors (<name>_fp16.safetensors with --fp16)")
    parser.add_argument("--fp16", action="store_true", help="store the weights in half precision (half the size)")
    parser.add_argument("--models-dir", default=find_models_dir(), help=MODELS_DIR_HELP + "; used when no source is given")
    args = parser.parse_args(argv)
    source = args.source
    if source is None:
        if args.models_dir is None:
            parser.error(NO_MODELS_DIR)
        source = os.path.join(args.models_dir, OFFICIAL.folder, OFFICIAL.path)
        if not os.path.isfile(source):  # a terminal has no R to press: say how to get the file, or to name another
            parser.error(f"{OFFICIAL.path} is not in {os.path.dirname(source)}: download it first with "
                         f"{DOWNLOAD_COMMAND} {OFFICIAL.name} ({OFFICIAL.size}), or name the file: "
                         "python -m st2v_modules.convert_checkpoint SOURCE TARGET --fp16")
    target = args.target or default_target(source, args.fp16)
    try:
        print(convert(source, target, args.fp16))
    except ValueError as error:  # a missing or unusable file (CheckpointError) or a bad target name
        parser.error(str(error))


if __name__ == "__main__":
    main()
