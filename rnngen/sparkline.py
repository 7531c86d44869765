"""One-line charts of numbers as block characters: the one sparkline every front end and
report uses (``rnngen inspect``, ``rnngen compare``, the dashboard). No torch, no UI."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

BLOCKS = " ▁▂▃▄▅▆▇█"  # BLOCKS[0] is a blank: no value


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def bucket(values: Sequence[float], width: int, how: Callable[[Sequence[float]], float] = max) -> list[float]:
    """Squeeze ``values`` into at most ``width`` columns (each ``how`` of its slice's finite values)."""
    n = len(values)
    if n <= width or width <= 0:
        return list(values)
    out = []
    for i in range(width):
        part = [v for v in values[i * n // width : (i + 1) * n // width] if math.isfinite(v)]
        out.append(how(part) if part else float("nan"))
    return out


def sparkline(
    values: Sequence[float],
    width: int,
    *,
    log: bool = False,
    how: Callable = max,
    lo: float | None = None,
    hi: float | None = None,
) -> str:
    """``values`` as at most ``width`` block characters, blank where a value is missing (or,
    with ``log``, not positive). ``lo``/``hi`` (log10 units with ``log``) fix the scale, so
    several lines can share one axis; by default it spans the values shown."""
    vals = bucket(values, width, how)
    if log:
        vals = [math.log10(v) if v > 0 else float("nan") for v in vals]
    finite = [v for v in vals if math.isfinite(v)]
    if not finite:
        return " " * len(vals)
    lo = min(finite) if lo is None else lo
    hi = max(finite) if hi is None else hi
    span = hi - lo or 1.0
    return "".join(BLOCKS[max(1, min(8, 1 + round((v - lo) / span * 7)))] if math.isfinite(v) else " " for v in vals)
