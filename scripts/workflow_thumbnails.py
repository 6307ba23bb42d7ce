"""Makes the template browser's thumbnails, workflows/<name>.jpg, from tests/test_browser.py's screenshots.

    STV_ARTIFACTS=shots COMFYUI_PATH=/path/to/ComfyUI .venv/bin/python -m pytest tests/test_browser.py -k opens_cleanly
    .venv/bin/python scripts/workflow_thumbnails.py shots

The frontend shows a pack's template as `/api/workflow_templates/<pack>/<name>.jpg` (it asks for .jpg, whatever
exists): each thumbnail is the left of the workflow as it opens on a 1366 x 768 page (the note's heading and the
loaders), square like the core templates' cards, small enough to keep in git.
"""
from __future__ import annotations

import argparse
import glob
import os

from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS = os.path.join(REPO, "workflows")
CANVAS_CORNER = (40, 80)  # below the top bar and the workflow tabs, right of the side bar, on the 1366 x 768 page
CROP, SIDE, QUALITY = 688, 384, 80


def thumbnail(screenshot: str, target: str) -> None:
    left, top = CANVAS_CORNER
    with Image.open(screenshot) as image:
        square = image.convert("RGB").crop((left, top, left + CROP, top + CROP))
        square.resize((SIDE, SIDE), Image.Resampling.LANCZOS).save(target, quality=QUALITY, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("screenshots", help="the folder STV_ARTIFACTS named for tests/test_browser.py")
    folder = parser.parse_args().screenshots
    for workflow in sorted(glob.glob(os.path.join(WORKFLOWS, "*.json"))):
        name = os.path.basename(workflow)[:-len(".json")]
        shot = os.path.join(folder, f"{name}.png")
        if not os.path.isfile(shot):
            raise SystemExit(f"no screenshot {shot}: run tests/test_browser.py -k opens_cleanly with STV_ARTIFACTS={folder}")
        thumbnail(shot, os.path.join(WORKFLOWS, f"{name}.jpg"))
        print(f"{name}.jpg")


if __name__ == "__main__":
    main()
