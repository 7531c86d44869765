"""The last line of defence between a model's text and the terminal, for the Textual apps.

Textual writes a widget's text to the terminal as it is: an ESC, a C1 control (U+009B is
CSI to some terminals) or DEL inside a token would be obeyed. The widgets show tokens, previews
and checkpoint names through :func:`rnngen.terminal_text.visible_controls` (``^[``); this
line filter, run on every line every app draws, drops any control character that still got
through. Rich measures control characters as zero cells wide, so dropping them keeps every
line exactly as wide as Textual laid it out.
"""

from __future__ import annotations

import re

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


class DropControls(LineFilter):
    """Removes control characters from the text of every segment (control segments stay)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if not any(_CONTROLS.search(text) for text, _, control in segments if not control):
            return segments
        return [
            segment if segment.control else Segment(_CONTROLS.sub("", segment.text), segment.style)
            for segment in segments
        ]


# Every app adds it: ``def get_line_filters(self): return [*super().get_line_filters(), DROP_CONTROLS]``.
DROP_CONTROLS = DropControls()
