"""Colour maps for the inspector's widgets: plain functions from numbers to rich styles.

Backgrounds carry the value (so spaces and line breaks show their colour too) and the
foreground is black or white, whichever reads better on it.
"""

from __future__ import annotations

import math

from rich.color import Color
from rich.style import Style

RGB = tuple[int, int, int]

# Probability of a token, on a log scale from 0.001 (surprising, red) to 1 (expected, green).
PROB_STOPS: list[tuple[float, RGB]] = [
    (0.0, (150, 25, 35)),
    (0.33, (180, 90, 20)),
    (0.66, (125, 125, 30)),
    (1.0, (35, 125, 70)),
]
# Activations in [-1, 1]: blue below zero, grey at zero, red above (Karpathy's cell pictures).
DIVERGING_STOPS: list[tuple[float, RGB]] = [
    (0.0, (40, 95, 215)),
    (0.5, (48, 48, 52)),
    (1.0, (220, 65, 40)),
]
# Gate openings in [0, 1]: dark (closed) through purple to yellow (open).
SEQUENTIAL_STOPS: list[tuple[float, RGB]] = [
    (0.0, (18, 18, 38)),
    (0.5, (125, 45, 130)),
    (0.8, (225, 105, 60)),
    (1.0, (245, 220, 70)),
]
# Distinct series colours (checkpoints, gates), readable on a dark background.
SERIES = ["#4fa3e0", "#f0a030", "#5cc46a", "#d070d0", "#e05555", "#c8c850"]


def lerp(stops: list[tuple[float, RGB]], x: float) -> RGB:
    """The colour at x in [0, 1] (clamped; NaN counts as 0.5) along the stops."""
    if not math.isfinite(x):
        x = 0.5
    x = min(1.0, max(0.0, x))
    for (x0, c0), (x1, c1) in zip(stops, stops[1:]):
        if x <= x1:
            f = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
            return (
                round(c0[0] + f * (c1[0] - c0[0])),
                round(c0[1] + f * (c1[1] - c0[1])),
                round(c0[2] + f * (c1[2] - c0[2])),
            )
    return stops[-1][1]


def text_on(rgb: RGB) -> Color:
    """Black or white, whichever contrasts more with the background ``rgb``."""
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return Color.from_rgb(0, 0, 0) if luma > 150 else Color.from_rgb(255, 255, 255)


def bg_style(rgb: RGB) -> Style:
    return Style(color=text_on(rgb), bgcolor=Color.from_rgb(*rgb))


def prob_rgb(p: float | None) -> RGB | None:
    """Colour of a token the model gave probability ``p`` (None: nothing predicted it)."""
    if p is None:
        return None
    x = (math.log10(max(p, 1e-3)) + 3.0) / 3.0
    return lerp(PROB_STOPS, x)


def activation_rgb(v: float, scale: float = 1.0) -> RGB:
    """Diverging colour of an activation, ``scale`` mapping to the strongest colour."""
    return lerp(DIVERGING_STOPS, 0.5 + 0.5 * v / (scale or 1.0))


def gate_rgb(v: float) -> RGB:
    return lerp(SEQUENTIAL_STOPS, v)
