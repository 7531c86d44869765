"""The inspector's top line: the views (click one, or press its number) and what is open and
happening. A click posts ``ShowView``; the app switches."""

from __future__ import annotations

from rich.text import Text
from textual.events import Click
from textual.widget import Widget

from rnngen.tui.inspector import messages as msg

VIEWS = [
    ("sample", "Sample"),
    ("hidden", "Hidden"),
    ("gates", "Gates"),
    ("gradient", "Gradient"),
    ("equations", "Equations"),
    ("units", "Units"),
]


def fit_status(status: str, room: int) -> str:
    """``status`` in ``room`` cells, its first parts dropped first: the end says what is
    under way and how many tokens there are, the start names the checkpoint."""
    parts = status.split(" · ")
    while len(status) > room and len(parts) > 1:
        parts = parts[1:]
        status = "… · " + " · ".join(parts)
    return status if len(status) <= room else "…" + status[len(status) - room + 1 :]


class ViewBar(Widget):
    """One line: the views (click one or press its number) and what is open and happening."""

    DEFAULT_CSS = "ViewBar { height: 1; width: 1fr; text-wrap: nowrap; text-overflow: clip; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.active = "sample"
        self.status = ""
        self._spans: list[tuple[int, int, str]] = []

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        self._spans = []
        for i, (name, label) in enumerate(VIEWS):
            start = len(out)
            style = "bold reverse #f0a030" if name == self.active else "bold"
            out.append(f" {i + 1} {label} ", style=style)
            self._spans.append((start, len(out), name))
        width = self.content_size.width
        status = self.status
        room = width - len(out) - 1
        if room > 3:
            status = fit_status(status, room)
            out.append(" " * (room - len(status) + 1))
            out.append(status, style="dim")
        return out

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for start, end, name in self._spans:
            if start <= offset.x < end:
                self.post_message(msg.ShowView(name))
