"""Gate saturation scatter (Karpathy, Johnson & Fei-Fei 2015): one dot per unit.

x: share of steps the gate is below 0.1 (closed), y: share above 0.9 (open). Units in
the bottom-left corner are never saturated (they respond to the input); units on the
diagonal edge are always saturated (closed or open whatever comes).
"""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widget import Widget

GLYPHS = ["·", "•", "●"]


def render_saturation(low, high, *, width: int, height: int, color: str = "#4fa3e0", title: str = "") -> Text:
    """Scatter of units at (low, high) in a width x height box (title and axes included)."""
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    out = Text(no_wrap=True, overflow="crop")
    if title:
        out.append(title[:width] + "\n", style=f"bold {color}")
    plot_h = max(2, height - (2 if title else 1))
    plot_w = max(4, width - 2)
    counts = np.zeros((plot_h, plot_w), dtype=int)
    for x, y in zip(low, high):
        col = int(round(x * (plot_w - 1)))
        row = plot_h - 1 - int(round(y * (plot_h - 1)))
        counts[row, col] += 1
    for row in range(plot_h):
        out.append("1" if row == 0 else ("0" if row == plot_h - 1 else " "), style="dim")
        out.append("│", style="dim")
        y = (plot_h - 1 - row) / (plot_h - 1)
        for col in range(plot_w):
            n = counts[row, col]
            if n:
                out.append(GLYPHS[0 if n == 1 else 1 if n <= 3 else 2], style=f"bold {color}")
            else:
                x = col / (plot_w - 1)
                edge = abs(x + y - 1.0) <= 0.5 / max(plot_w - 1, plot_h - 1) + 1e-9
                out.append("╲" if edge else " ", style="#444444")
        out.append("\n")
    axis = "└" + "─" * plot_w
    label = " closed→"
    out.append(" " + axis[: max(0, plot_w + 1 - len(label))] + label, style="dim")
    return out


class SaturationPlot(Widget):
    """``set_data(low, high, title=..., color=...)`` per unit saturation shares."""

    DEFAULT_CSS = """
    SaturationPlot { height: 1fr; width: 1fr; text-wrap: nowrap; text-overflow: clip; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.low = np.zeros(0)
        self.high = np.zeros(0)
        self.title = ""
        self.color = "#4fa3e0"

    def set_data(self, low, high, *, title: str = "", color: str = "#4fa3e0") -> None:
        self.low, self.high, self.title, self.color = np.asarray(low), np.asarray(high), title, color
        self.refresh()

    def render(self) -> Text:
        return render_saturation(
            self.low,
            self.high,
            width=self.content_size.width,
            height=self.content_size.height,
            color=self.color,
            title=self.title,
        )
