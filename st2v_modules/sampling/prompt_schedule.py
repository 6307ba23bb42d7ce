"""Prompt travel: `0: a cat walks | 240: the cat runs` gives each chunk the prompt active at its first new frame."""
from __future__ import annotations

import re
from dataclasses import dataclass

ENTRY = re.compile(r"^\s*(\d+)\s*:\s*(\S.*?)\s*$", re.S)


@dataclass(frozen=True)
class PromptSchedule:
    entries: tuple[tuple[int, str], ...]  # (first frame, prompt), sorted

    def prompt_at(self, frame: int) -> str | None:
        """The prompt of the last entry starting at or before `frame`; None before the first entry."""
        current = None
        for start, prompt in self.entries:
            if start > frame:
                break
            current = prompt
        return current


def parse_prompt_schedule(text: str) -> PromptSchedule | None:
    """Entries split by `|` or new lines; None for an empty text (no travel: the positive prompt throughout)."""
    parts = [p for p in re.split(r"[|\n]", text) if p.strip()]
    if not parts:
        return None
    entries = {}
    for number, part in enumerate(parts, 1):
        match = ENTRY.match(part)
        if not match:
            raise ValueError(f"prompt_schedule entry {number} ({part.strip()!r}) is not 'FRAME: prompt', e.g. '0: a cat walks | 240: the cat runs'.")
        frame = int(match.group(1))
        if frame in entries:
            raise ValueError(f"prompt_schedule entry {number} repeats frame {frame}; give each frame one prompt.")
        entries[frame] = match.group(2)
    return PromptSchedule(tuple(sorted(entries.items())))
