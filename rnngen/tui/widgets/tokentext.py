"""Text shown token by token, each token with its own colour, and a cursor on one token.

``layout_tokens`` wraps the pieces into lines (a line break token ends its line and is
drawn as ↵); ``TokenText`` renders the lines around the cursor and turns clicks into
token indices.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.events import Click
from textual.message import Message
from textual.widget import Widget

from rnngen.terminal_text import visible_controls

CURSOR_STYLE = Style(reverse=True, bold=True, underline=True)


@dataclass(frozen=True)
class Placed:
    line: int
    col: int
    text: str  # what is drawn
    index: int  # token index


def visible_piece(piece: str) -> tuple[str, bool]:
    """What to draw for a piece, and whether it ends the line (control characters read ``^[``)."""
    if piece.endswith("\n"):
        return visible_controls(piece[:-1].replace("\n", "↵").replace("\t", "→")) + "↵", True
    return visible_controls(piece.replace("\t", "→")) or "∅", False


def layout_tokens(pieces: list[str], width: int) -> tuple[list[Placed], int]:
    """Place each piece on a line of ``width`` cells; returns the placements and line count."""
    width = max(1, width)
    placed: list[Placed] = []
    line, col = 0, 0
    for i, piece in enumerate(pieces):
        text, ends_line = visible_piece(piece)
        if len(text) > width:
            text = text[: width - 1] + "…"
        if col + len(text) > width and col > 0:
            line, col = line + 1, 0
            if text.startswith(" ") and len(text) > 1:  # a word's leading space is not drawn at a line start
                text = text[1:]
        placed.append(Placed(line, col, text, i))
        col += len(text)
        if ends_line:
            line, col = line + 1, 0
    return placed, (line + 1 if col > 0 or not placed else line)


class TokenText(Widget):
    """Coloured tokens with a cursor: ``set_data(pieces, styles, cursor)``."""

    DEFAULT_CSS = """
    TokenText { height: 1fr; width: 1fr; text-wrap: nowrap; text-overflow: clip; }
    """

    class Clicked(Message):
        def __init__(self, text: TokenText, index: int) -> None:
            super().__init__()
            self.token_text = text
            self.index = index

        @property
        def control(self) -> TokenText:
            return self.token_text

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.pieces: list[str] = []
        self.token_styles: list[Style | None] = []
        self.cursor: int | None = None
        self.placeholder = ""
        self.top = 0
        self._placed: list[Placed] = []

    def set_data(
        self, pieces: list[str], styles: list[Style | None], cursor: int | None = None, placeholder: str = ""
    ) -> None:
        self.pieces, self.token_styles, self.cursor, self.placeholder = list(pieces), list(styles), cursor, placeholder
        self.refresh()

    def line_of(self, index: int) -> int | None:
        for p in self._placed:
            if p.index == index:
                return p.line
        return None

    def index_at(self, x: int, y: int) -> int | None:
        """The token drawn at content cell (x, y), or the last one on that line left of x."""
        line = self.top + y
        best = None
        for p in self._placed:
            if p.line == line and p.col <= x:
                best = p.index
                if x < p.col + len(p.text):
                    return p.index
        return best

    def neighbour_on_line(self, index: int, lines: int) -> int:
        """The token ``lines`` lines below (negative: above) ``index``, at about its column."""
        here = next((p for p in self._placed if p.index == index), None)
        if here is None:
            return index
        target = here.line + lines
        same = [p for p in self._placed if p.line == target]
        if not same:
            return 0 if lines < 0 else (len(self.pieces) - 1)
        return min(same, key=lambda p: abs(p.col - here.col)).index

    def render(self) -> Text:
        width, height = self.content_size.width, max(1, self.content_size.height)
        if not self.pieces:
            return Text(self.placeholder, style="dim italic")
        self._placed, lines = layout_tokens(self.pieces, width)
        cursor_line = self.line_of(self.cursor) if self.cursor is not None else lines - 1
        if cursor_line is None:
            cursor_line = 0
        if cursor_line < self.top:
            self.top = cursor_line
        elif cursor_line >= self.top + height:
            self.top = cursor_line - height + 1
        self.top = max(0, min(self.top, max(0, lines - height)))
        out = Text(no_wrap=True, overflow="crop")
        current_line, current_col = self.top, 0
        for p in self._placed:
            if p.line < self.top:
                continue
            if p.line >= self.top + height:
                break
            while current_line < p.line:
                out.append("\n")
                current_line, current_col = current_line + 1, 0
            style = self.token_styles[p.index] if p.index < len(self.token_styles) else None
            if p.index == self.cursor:
                style = (style or Style()) + CURSOR_STYLE
            out.append(p.text, style=style or "")
            current_col += len(p.text)
        return out

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self.index_at(offset.x, offset.y)
        if index is not None:
            self.post_message(self.Clicked(self, index))
