"""A log-scale bar chart of positive values over time (gradient norms through time).

``render_log_chart`` draws one series; ``LogChart`` stacks several (one per layer)
and may share its y range with a neighbour so two checkpoints compare honestly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich.text import Text
from textual.events import Click
from textual.message import Message
from textual.widget import Widget

from rnngen.probe_stats import Floats
from rnngen.tui.widgets.timeaxis import TimeAxis

EIGHTHS = " ▁▂▃▄▅▆▇█"
LABEL_W = 6  # "1e-12" + axis


def log_range(series: Sequence[Floats]) -> tuple[int, int] | None:
    """Whole decades (lo, hi) that hold every positive value of every series."""
    positive = [float(v) for s in series for v in s if v > 0 and math.isfinite(v)]
    if not positive:
        return None
    lo, hi = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    if hi == lo:
        hi = lo + 1
    return lo, hi


def _decade(e: int) -> str:
    return f"1e{e:+d}" if e else "1"


def render_log_chart(
    values: Floats,
    *,
    width: int,
    height: int,
    lo: int,
    hi: int,
    cursor: int | None = None,
    color: str = "#4fa3e0",
    title: str = "",
) -> Text:
    """Bars of ``values`` on a log10 axis from 10**lo (bottom) to 10**hi (top).

    A title line, ``height - 2`` rows of bars, and a time axis. Zeros draw nothing.
    """
    vals = np.asarray(values, dtype=np.float64)
    out = Text(no_wrap=True, overflow="crop")
    if title:
        out.append(title[:width] + "\n", style="bold")
    plot_h = max(1, height - (2 if title else 1))
    plot_w = max(1, width - LABEL_W)
    steps = len(vals)
    axis_map = TimeAxis.fit(steps, plot_w)
    bars = axis_map.geometric_mean(vals)
    cursor_col = axis_map.column_of(cursor)
    span = max(1e-9, hi - lo)
    levels = [0.0 if v <= 0 else max(0.0, min(1.0, (math.log10(v) - lo) / span)) * plot_h for v in bars]
    label_rows = {0: _decade(hi), plot_h - 1: _decade(lo)}
    if plot_h >= 5:
        label_rows[(plot_h - 1) // 2] = _decade(round((hi + lo) / 2))
    for row in range(plot_h):
        from_bottom = plot_h - 1 - row
        label = label_rows.get(row, "")
        out.append(f"{label:>{LABEL_W - 1}}", style="dim")
        out.append("┤" if label else "│", style="dim")
        for c, level in enumerate(levels):
            fill = level - from_bottom
            ch = "█" if fill >= 1 else EIGHTHS[int(max(0.0, fill) * 8)]
            style = "bold #ffffff" if c == cursor_col else color
            if c == cursor_col and ch == " ":
                ch, style = "┊", "dim"
            out.append(ch, style=style)
        out.append("\n")
    out.append(axis_map.note.rjust(LABEL_W - 2)[: LABEL_W - 2] + " ", style="dim italic")
    out.append("└", style="dim")
    axis = [" "] * len(levels)
    if levels:
        first, last = "t=1", f"{steps}"
        axis[: len(first)] = list(first)[: len(axis)]
        if len(levels) > len(first) + len(last) + 1:
            axis[len(levels) - len(last) :] = list(last)
    line = Text("".join(axis), style="dim")
    if cursor_col is not None and cursor_col < len(axis):
        line.stylize("reverse bold", cursor_col, cursor_col + 1)
    out.append_text(line)
    return out


class LogChart(Widget):
    """Several log-scale series (e.g. one per layer) stacked in one widget."""

    DEFAULT_CSS = """
    LogChart { height: 1fr; width: 1fr; text-wrap: nowrap; text-overflow: clip; }
    """

    class Clicked(Message):
        def __init__(self, chart: LogChart, step: int) -> None:
            super().__init__()
            self.chart = chart
            self.step = step

        @property
        def control(self) -> LogChart:
            return self.chart

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.series: list[tuple[str, np.ndarray]] = []
        self.yrange: tuple[int, int] | None = None
        self.cursor: int | None = None
        self.color = "#4fa3e0"
        self.message = ""

    def set_data(
        self,
        series: Sequence[tuple[str, Floats]],
        *,
        yrange: tuple[int, int] | None = None,
        cursor: int | None = None,
        color: str = "#4fa3e0",
        message: str = "",
    ) -> None:
        """series: (title, values) pairs; yrange: shared decades (default: fit these series)."""
        self.series = [(t, np.asarray(v, dtype=np.float64)) for t, v in series]
        self.yrange = yrange or log_range([v for _, v in self.series])
        self.cursor, self.color, self.message = cursor, color, message
        self.refresh()

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        if self.message or not self.series:
            return Text(self.message or "(nothing to show yet)", style="dim")
        if self.yrange is None:
            return Text("every gradient norm is 0 (the window needs at least 2 tokens)", style="dim")
        lo, hi = self.yrange
        each = max(3, height // len(self.series))
        out = Text(no_wrap=True, overflow="crop")
        for i, (title, values) in enumerate(self.series):
            if i:
                out.append("\n")
            out.append_text(
                render_log_chart(
                    values, width=width, height=each, lo=lo, hi=hi, cursor=self.cursor, color=self.color, title=title
                )
            )
        return out

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self.series:
            return
        steps = len(self.series[0][1])
        col = offset.x - LABEL_W
        if col < 0 or steps == 0:
            return
        step = TimeAxis.fit(steps, max(1, self.content_size.width - LABEL_W)).token_at(col)
        if step is not None:
            self.post_message(self.Clicked(self, step))
