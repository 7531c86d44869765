"""Small pure helpers shared by every layer: durations and labels (no torch, no UI)."""

from __future__ import annotations

import math
import re

from rnngen.errors import RnngenError, setting

_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(spec: str) -> float:
    """'90s', '5m', '1h', '1h30m' or plain seconds -> seconds."""
    text = spec.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise RnngenError(f"{setting('time')} {spec!r} is not a duration: use forms like 90s, 5m, 1h or 1h30m")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise RnngenError(f"{setting('time')} must be more than 0")
    return seconds


def format_duration(seconds: float | None) -> str:
    """Seconds as '45s', '3m07s' or '1h05m' ('?' when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def model_label(cell: str, layers: object, hidden: object) -> str:
    """'LSTM 2x256': the cell and the shape of its stack."""
    return f"{str(cell).upper()} {layers}x{hidden}"
