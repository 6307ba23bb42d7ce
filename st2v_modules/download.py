"""Download the pack's model files into ComfyUI's models folder (resumable, checked against the published size and SHA-256).

    python -m st2v_modules.download                     # list the models and which are there
    python -m st2v_modules.download streamingt2v modelscope_t2v_unet --models-dir ComfyUI/models
    python -m st2v_modules.download all

--models-dir defaults to the models folder of the ComfyUI this pack is installed in (model_files.location).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from tqdm import tqdm

from .model_files.catalog import CATALOG, ModelFile, find
from .model_files.downloader import DownloadError, download_model, file_problem, target_path
from .model_files.location import MODELS_DIR_HELP, NO_MODELS_DIR, find_models_dir


class TerminalProgress:
    """A tqdm bar in bytes; the downloader reports absolute counts (a resumed download starts part-way)."""

    def __init__(self, entry: ModelFile):
        self.bar = tqdm(desc=entry.name, unit="B", unit_scale=True, unit_divisor=1000, file=sys.stderr)

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar.total != total:
            self.bar.reset(total)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def list_models(models_dir: str) -> None:
    print(f"models folder: {os.path.abspath(models_dir)}")
    for e in CATALOG:
        print(f"{e.name:28} {e.size:>9}  {state(e, target_path(e, os.path.join(models_dir, e.folder))):10} models/{e.folder}/{e.path}")
    print("\nDownload with: python -m st2v_modules.download <name> [<name> ...] (or: all)")


def state(entry: ModelFile, path: str) -> str:
    """present / incomplete (its size is not the published one) / missing; the SHA-256 is checked when downloading."""
    if not os.path.exists(path):
        return "missing"
    return "incomplete" if file_problem(path, entry.sha256, entry.size_bytes, hash_it=False) else "present"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="catalog names to download, or 'all'; none lists the catalog")
    parser.add_argument("--models-dir", default=find_models_dir(), help=MODELS_DIR_HELP)
    args = parser.parse_args(argv)
    if args.models_dir is None:
        parser.error(NO_MODELS_DIR)
    logging.basicConfig(format="%(levelname)s: %(message)s")
    if not args.names:
        list_models(args.models_dir)
        return 0
    try:
        entries = list(CATALOG) if args.names == ["all"] else [find(n) for n in args.names]
    except KeyError as error:
        parser.error(error.args[0])
    failed = 0
    for entry in entries:
        bar = TerminalProgress(entry)
        try:
            path, downloaded = download_model(entry, os.path.join(args.models_dir, entry.folder), bar)
        except DownloadError as error:
            bar.close()
            print(f"{entry.name}: {error}", file=sys.stderr)
            failed += 1
            continue
        bar.close()
        print(f"{entry.name}: {'downloaded to' if downloaded else 'already present:'} {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
