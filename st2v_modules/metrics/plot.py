"""The per-chunk curves as one picture with plain PIL: a panel per curve, chunk index left to right."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH, PANEL_HEIGHT, TITLE_HEIGHT = 640, 96, 24
PAD_X, PAD_TOP, PAD_BOTTOM = 40, 22, 10
BACKGROUND, FRAME, TEXT = (255, 255, 255), (200, 200, 200), (20, 20, 20)
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194),
           (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def plot_curves(curves: dict[str, Sequence[float | None]], title: str) -> np.ndarray:
    """uint8 `[H, W, 3]`: every curve scaled to its own panel, labelled with its first and last value and its range."""
    image = Image.new("RGB", (WIDTH, TITLE_HEIGHT + PANEL_HEIGHT * max(len(curves), 1)), BACKGROUND)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default()
    draw.text((PAD_X, 6), title, fill=TEXT, font=font)
    for index, (name, values) in enumerate(curves.items()):
        draw_panel(draw, font, TITLE_HEIGHT + index * PANEL_HEIGHT, name, values, COLOURS[index % len(COLOURS)])
    return np.asarray(image)


def draw_panel(draw: ImageDraw.ImageDraw, font, top: int, name: str, values: Sequence[float | None], colour) -> None:
    box = (PAD_X, top + PAD_TOP, WIDTH - PAD_X, top + PANEL_HEIGHT - PAD_BOTTOM)
    draw.rectangle(box, outline=FRAME)
    points = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not points:
        draw.text((PAD_X, top + 4), f"{name}: not defined", fill=TEXT, font=font)
        return
    low, high = min(v for _, v in points), max(v for _, v in points)
    draw.text((PAD_X, top + 4), f"{name}: first {points[0][1]:.4g}, last {points[-1][1]:.4g} (range {low:.4g} .. {high:.4g})",
              fill=TEXT, font=font)
    span_x, span_y = max(len(values) - 1, 1), (high - low) or 1.0
    inner = (box[0] + 6, box[1] + 6, box[2] - 6, box[3] - 6)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = inner[0] + (inner[2] - inner[0]) * (i / span_x if len(values) > 1 else 0.5)
        y = inner[3] - (inner[3] - inner[1]) * ((v - low) / span_y if high > low else 0.5)
        return x, y

    coordinates = [xy(i, v) for i, v in points]
    if len(coordinates) > 1:
        draw.line(coordinates, fill=colour, width=2)
    for x, y in coordinates:
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
