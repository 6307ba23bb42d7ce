"""The prompt list: one prompt per line, or JSON lines with the prompt and what else changes for that video."""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..headless.runner import Overrides, UsageError

JSON_KEYS = {"prompt", "negative", "seed", "frames", "set"}


@dataclass(frozen=True)
class Item:
    index: int
    """0-based place in the list; names the item's folder."""
    prompt: str
    negative: str | None = None
    seed: int | None = None
    frames: int | None = None
    sets: tuple[str, ...] = ()
    """`node.input=value` overrides for this item alone (after the command's own `--set`)."""

    def overrides(self, common_sets: tuple[str, ...] = ()) -> Overrides:
        return Overrides(self.prompt, self.negative, self.seed, self.frames, common_sets + self.sets)

    @property
    def label(self) -> str:
        return self.prompt if len(self.prompt) <= 40 else self.prompt[:39] + "…"


def read_items(text: str, source: str = "the prompt list") -> list[Item]:
    """Items from the list's text: JSON lines when its first entry starts with `{`, else one prompt per line (blank
    lines and lines starting with `#` skipped either way)."""
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise UsageError(f"{source} holds no prompts: write one per line, or one JSON object per line.")
    if not lines[0][1].startswith("{"):
        return [Item(i, line) for i, (_, line) in enumerate(lines)]
    return [json_item(i, n, line, source) for i, (n, line) in enumerate(lines)]


def json_item(index: int, line_number: int, line: str, source: str) -> Item:
    where = f"{source}, line {line_number}"
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        raise UsageError(f"{where} is not JSON ({error.msg}); write one object per line, e.g. "
                         '{"prompt": "a cat surfing", "seed": 3, "frames": 80}') from None
    if not isinstance(entry, dict) or not isinstance(entry.get("prompt"), str):
        raise UsageError(f"{where}: each line needs a \"prompt\" text.")
    unknown = set(entry) - JSON_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; the keys are {', '.join(sorted(JSON_KEYS))}.")
    for key in ("seed", "frames"):
        if key in entry and (not isinstance(entry[key], int) or isinstance(entry[key], bool)):
            raise UsageError(f"{where}: \"{key}\" must be a whole number, not {entry[key]!r}.")
    if "negative" in entry and not isinstance(entry["negative"], str):
        raise UsageError(f"{where}: \"negative\" must be a text.")
    return Item(index, entry["prompt"], entry.get("negative"), entry.get("seed"), entry.get("frames"), set_overrides(entry.get("set", []), where))


def set_overrides(value, where: str) -> tuple[str, ...]:
    """`"set"` as a list of "node.input=value" or an object {"node.input": value}."""
    if isinstance(value, dict):
        return tuple(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in value.items())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise UsageError(f'{where}: "set" is a list of "node.input=value" texts or an object {{"node.input": value}}.')
