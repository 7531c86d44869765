"""Rows of text, one of them highlighted, under an optional header: a click on a row posts
its index. The units view's feature table and ranked units are two of these."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.events import Click
from textual.message import Message
from textual.widget import Widget

SELECTED = Style(reverse=True, bold=True)


class RowList(Widget):
    """``set_data(rows, selected, header=...)``; scrolls to keep the selected row in view."""

    DEFAULT_CSS = "RowList { height: 1fr; width: 1fr; text-wrap: nowrap; text-overflow: clip; }"

    class Clicked(Message):
        def __init__(self, rows: RowList, index: int) -> None:
            super().__init__()
            self.rows = rows
            self.index = index

        @property
        def control(self) -> RowList:
            return self.rows

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[Text] = []
        self.header: list[Text] = []
        self.selected: int | None = None
        self.placeholder = ""
        self.top = 0

    def set_data(
        self, rows: list[Text], selected: int | None = None, *, header: list[Text] | None = None, placeholder: str = ""
    ) -> None:
        self.rows, self.selected, self.header, self.placeholder = list(rows), selected, list(header or []), placeholder
        self.refresh()

    def _room(self) -> int:
        return max(1, self.content_size.height - len(self.header))

    def render(self) -> Text:
        if not self.rows:
            return Text.assemble(*[Text.assemble(h, "\n") for h in self.header], (self.placeholder, "dim italic"))
        room = self._room()
        if self.selected is not None:
            if self.selected < self.top:
                self.top = self.selected
            elif self.selected >= self.top + room:
                self.top = self.selected - room + 1
        self.top = max(0, min(self.top, max(0, len(self.rows) - room)))
        lines = list(self.header)
        for i in range(self.top, min(len(self.rows), self.top + room)):
            row = self.rows[i].copy()
            if i == self.selected:
                row.stylize(SELECTED)
            lines.append(row)
        return Text("\n", no_wrap=True, overflow="crop").join(lines)

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self.top + offset.y - len(self.header)
        if offset.y >= len(self.header) and 0 <= index < len(self.rows):
            self.post_message(self.Clicked(self, index))
