"""Text bound for a terminal, with its control characters made visible.

A corpus may hold ESC and other control characters, so a model trained on it can emit
escape sequences; so can a stranger's checkpoint (its vocabulary, its metadata). Written
raw to a terminal they move the cursor, recolour, retitle the window or worse. Every front
end passes model output and checkpoint-derived text through :func:`for_stream` (or, for a
screen that is always a terminal, :func:`visible_controls`) before it prints it.

The visible forms are those of ``cat -v``: ESC is ``^[``, the other C0 controls ``^@``..``^_``,
DEL ``^?``; the C1 controls U+0080..U+009F (which some terminals obey, e.g. U+009B as CSI)
become ``\\x80``..``\\x9f``. Newline and tab stay as they are. Files and pipes get the text
unchanged.
"""

from __future__ import annotations

import os
from typing import TextIO

KEPT = "\n\t"


def _visible(code: int) -> str:
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"\\x{code:02x}"


# str.translate runs in C: one table for all 65 controls but newline and tab.
_TABLE = {code: _visible(code) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(code) not in KEPT}


def visible_controls(text: str) -> str:
    """``text`` with every control character but newline and tab shown as visible text."""
    return text.translate(_TABLE)


# json.dumps(..., ensure_ascii=False) escapes only U+0000..U+001F; these it writes raw.
_JSON_TABLE = {code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0))}


def json_escape_controls(json_text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with DEL and the C1 controls
    written as ``\\u`` escapes too: the same document, safe on a terminal, still valid JSON
    (these characters can only occur inside strings)."""
    return json_text.translate(_JSON_TABLE)


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is an interactive terminal (a closed or odd stream is not)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def plain_text(stream: TextIO | None) -> bool:
    """Whether output to ``stream`` must be plain text: no colour, no styles, no redrawn lines.

    So it is for a file or pipe, with ``NO_COLOR`` set to anything but "" (no-color.org),
    and on a terminal that says it cannot do more (``TERM=dumb``).
    """
    return not is_terminal(stream) or bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


def for_stream(text: str, stream: TextIO | None) -> str:
    """``text`` as it should be written to ``stream``: controls visible on a terminal, raw elsewhere."""
    return visible_controls(text) if is_terminal(stream) else text
