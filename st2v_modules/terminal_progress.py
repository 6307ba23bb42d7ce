"""A one-line progress bar for the terminal commands (downloads, headless runs)."""
from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class ProgressLine:
    """Redraws one line in place: `label [#####-----]  42% detail` (no bar while the total is unknown);
    `close()` ends the line."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, min_interval_s: float = 0.1):
        self.label, self.stream, self.min_interval_s = label, stream, min_interval_s
        self._last_draw = 0.0
        self._drawn = False

    def update(self, done: float, total: float | None, detail: str = "") -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._last_draw < self.min_interval_s:
            return
        self._last_draw = now
        bar = ""
        if total:
            filled = int(BAR_WIDTH * min(done / total, 1.0))
            bar = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {100 * done / total:3.0f}%"
        self.stream.write(" ".join(filter(None, ["\r" + self.label, bar, detail])) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
