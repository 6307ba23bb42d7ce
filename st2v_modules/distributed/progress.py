"""Progress in the terminal: the workers report each stage's node and step to a board (a Ray actor), and the driver
waits on the board for what changed, with the stages' results, then draws one bar per running stage and one in total."""
from __future__ import annotations

import asyncio
import sys

from tqdm import tqdm

Key = tuple[int, str]  # (item, stage)


class Board:
    """The newest (node, value, max) of every running stage, handed out in batches as it changes."""

    def __init__(self):
        self.pending: dict[Key, tuple[str, int, int]] = {}
        self.changed = asyncio.Event()

    async def update(self, item: int, stage: str, node: str, value: int, maximum: int) -> None:
        self.pending[(item, stage)] = (node, value, maximum)
        self.changed.set()

    async def changes(self) -> dict[Key, tuple[str, int, int]]:
        """Returns once something changed."""
        await self.changed.wait()
        self.changed.clear()
        changes, self.pending = self.pending, {}
        return changes


class Display:
    def __init__(self, items: int):
        self.total = tqdm(total=items, desc="videos", unit="video", file=sys.stderr, position=0)
        self.bars: dict[Key, tqdm] = {}

    def show(self, changes: dict[Key, tuple[str, int, int]]) -> None:
        for key, (node, value, maximum) in changes.items():
            bar = self.bars.get(key)
            if bar is None:
                bar = self.bars[key] = tqdm(desc=f"item {key[0] + 1} {key[1]}", file=sys.stderr, leave=False,
                                            position=len(self.bars) + 1)
            bar.set_postfix_str(node, refresh=not maximum)
            if maximum:  # a step of the node's progress (a node starting reports no steps)
                if bar.total != maximum:
                    bar.reset(maximum)
                bar.update(value - bar.n)

    def stage_done(self, key: Key) -> None:
        bar = self.bars.pop(key, None)
        if bar is not None:
            bar.close()

    def item_done(self) -> None:
        self.total.update(1)

    def log(self, line: str) -> None:
        tqdm.write(line, file=sys.stderr)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.total.close()
