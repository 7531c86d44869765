"""A bordered text panel for the dashboards."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class Panel(Widget):
    """A bordered text panel; ``show`` swaps its text and repaints it without a new layout
    (a ``Static.update`` would ask for one every time)."""

    def __init__(self, title: str, *, id: str):
        super().__init__(id=id, classes="panel")
        self.border_title = title
        self.content: Text = Text()
        self.drawn_key: object = None

    def render(self) -> Text:
        return self.content

    def show(self, content: Text) -> None:
        self.content = content
        self.refresh()
