"""Text renderers for the training dashboards (plain data in, rich ``Text`` out; no widgets,
easy to test): a line chart of (step, value) series, log-scale bars of a gradient-through-time
profile, a half-block heatmap of hidden units, sparklines, and the number formats they share."""

from __future__ import annotations

import functools
import math

from rich.color import Color
from rich.style import Style
from rich.text import Text

from rnngen.sparkline import BLOCKS, bucket, sparkline

__all__ = ["bucket", "sparkline", "fmt", "fmt_sci", "fmt_duration", "line_chart", "log_bars", "heatmap", "smooth"]


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def fmt_sci(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.1e}" if value and (abs(value) < 1e-2 or abs(value) >= 1e4) else f"{value:.3g}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def line_chart(
    series: list[tuple[list[tuple[int, float]], str, str]], width: int, height: int, *, x_max: int | None = None
) -> Text:
    """Scatter several (step, value) series on one grid; a y axis with min and max on the left."""
    points = [(s, v) for data, _, _ in series for s, v in data if math.isfinite(v)]
    text = Text()
    if not points or width < 12 or height < 2:
        text.append("waiting for the first steps…", style="dim")
        return text
    lo = min(v for _, v in points)
    hi = max(v for _, v in points)
    if hi - lo < 1e-9:
        hi, lo = hi + 0.5, lo - 0.5
    x_hi = max(x_max or 0, max(s for s, _ in points), 1)
    label_w = 7
    cols = width - label_w
    grid: list[list[tuple[str, str] | None]] = [[None] * cols for _ in range(height)]
    for data, mark, style in series:
        for s, v in data:
            if not math.isfinite(v):
                continue
            col = min(cols - 1, int(s / x_hi * (cols - 1)))
            row = height - 1 - min(height - 1, int(round((v - lo) / (hi - lo) * (height - 1))))
            grid[row][col] = (mark, style)
    for r in range(height):
        label = fmt(hi, 2) if r == 0 else fmt(lo, 2) if r == height - 1 else ""
        text.append(f"{label:>6}┤", style="dim")
        for cell in grid[r]:
            if cell is None:
                text.append(" ")
            else:
                text.append(cell[0], style=cell[1])
        if r < height - 1:
            text.append("\n")
    return text


def log_bars(values: list[float], width: int, height: int, *, decades: float | None = None) -> Text:
    """Vertical bars of log10(values), one column per value (squeezed to fit): the
    gradient-through-time profile. Axis labels are powers of ten."""
    text = Text()
    logs = [math.log10(v) if v > 0 and math.isfinite(v) else float("nan") for v in values]
    logs = bucket(logs, width - 7, how=lambda part: sum(part) / len(part))
    finite = [v for v in logs if math.isfinite(v)]
    if not finite or height < 2:
        text.append("waiting for the first probe…", style="dim")
        return text
    hi = math.ceil(max(finite))
    lo: float = math.floor(min(finite))
    if decades is not None:
        lo = max(lo, hi - decades)
    if hi - lo < 1:
        lo = hi - 1
    levels = height * 8
    for r in range(height):
        label = f"1e{hi:+d}" if r == 0 else f"1e{lo:+d}" if r == height - 1 else ""
        text.append(f"{label:>6}┤", style="dim")
        for v in logs:
            if not math.isfinite(v):
                text.append(" ")
                continue
            filled = (max(lo, v) - lo) / (hi - lo) * levels
            cell = filled - (height - 1 - r) * 8
            ch = BLOCKS[max(0, min(8, int(round(cell))))]
            style = "green" if v > hi - (hi - lo) / 3 else "yellow" if v > hi - 2 * (hi - lo) / 3 else "red"
            text.append(ch, style=style)
        if r < height - 1:
            text.append("\n")
    return text


LEVELS = 10  # colour steps per sign: 21 colours from -1 to +1


def _level(v: float) -> int:
    v = max(-1.0, min(1.0, v)) if math.isfinite(v) else 0.0
    return int(round(v * LEVELS))


@functools.cache
def _rgb(level: int) -> Color:
    v = level / LEVELS
    if v >= 0:
        return Color.from_rgb(40 + 215 * v, 40 + 40 * (1 - v), 40 + 40 * (1 - v))
    v = -v
    return Color.from_rgb(40 + 40 * (1 - v), 60 + 80 * v, 40 + 215 * v)


@functools.cache
def _pair(top: int, bottom: int | None) -> Style:
    return Style(color=_rgb(top), bgcolor=_rgb(bottom) if bottom is not None else Color.from_rgb(0, 0, 0))


def heatmap(hidden: list[list[float]], width: int, height: int) -> Text:
    """Units (rows, two per line with half blocks) by time steps (columns); blue -1 .. red +1."""
    text = Text()
    if not hidden or height < 1 or width < 4:
        text.append("waiting for the first probe…", style="dim")
        return text
    steps = hidden[-width:]
    units = min(len(steps[0]), height * 2)
    for r in range(0, units, 2):
        for col in steps:
            text.append("▀", style=_pair(_level(col[r]), _level(col[r + 1]) if r + 1 < units else None))
        if r + 2 < units:
            text.append("\n")
    return text


def smooth(points: list[tuple[int, float]], alpha: float = 0.1) -> list[tuple[int, float]]:
    """An exponential moving average of (step, value) points; non-finite values are skipped."""
    out, ema = [], None
    for s, v in points:
        if not math.isfinite(v):
            continue
        ema = v if ema is None else ema * (1 - alpha) + v * alpha
        out.append((s, ema))
    return out
