"""A units x time heatmap: one unit per line, one token (or a bin of tokens) per column.

``render_heatmap`` turns a plain (units, time) array into rich Text; ``Heatmap`` is
the widget around it (scrolls to the selected unit; a click selects a unit and a time).
"""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.events import Click
from textual.message import Message
from textual.widget import Widget

from rnngen.tui.widgets.colors import activation_rgb, bg_style, gate_rgb, text_on
from rnngen.tui.widgets.timeaxis import TimeAxis

CURSOR = "┃"


def first_visible_row(rows: int, visible: int, selected: int | None, current: int = 0) -> int:
    """The top row to show so that ``selected`` is on screen, moving as little as possible."""
    if rows <= visible or visible <= 0:
        return 0
    top = min(max(0, current), rows - visible)
    if selected is not None:
        if selected < top:
            top = selected
        elif selected >= top + visible:
            top = selected - visible + 1
    return top


def render_heatmap(
    values: np.ndarray,
    *,
    width: int,
    height: int,
    top: int = 0,
    selected_row: int | None = None,
    cursor: int | None = None,
    kind: str = "diverging",
    scale: float | None = None,
    axis: list[str] | None = None,
) -> Text:
    """Render (rows, T) ``values`` (rows are units) into ``height`` lines of ``width`` cells.

    kind: "diverging" (activations around 0, ``scale`` -> full colour; default: the
    largest |value|, at least 1) or "sequential" (gates in [0, 1]). ``axis``: one short
    label per token, drawn under the map when every token has its own column.
    """
    values = np.asarray(values, dtype=np.float64)
    rows, steps = values.shape if values.ndim == 2 else (0, 0)
    gutter = len(str(max(rows - 1, 0))) + 2
    plot_w = max(1, width - gutter)
    out = Text(no_wrap=True, overflow="crop")
    if rows == 0 or steps == 0:
        out.append("(nothing to show yet)", style="dim")
        return out
    axis_map = TimeAxis.fit(steps, plot_w)
    grid = axis_map.mean(values)
    cols = grid.shape[1]
    cursor_col = axis_map.column_of(cursor)
    if kind == "diverging":
        s = scale if scale else max(1.0, float(np.nanmax(np.abs(values))) if values.size else 1.0)
        colour = lambda v: activation_rgb(v, s)  # noqa: E731
    else:
        colour = gate_rgb
    visible = max(1, height - 1)
    for r in range(top, min(rows, top + visible)):
        mark = "▶" if r == selected_row else " "
        label_style = "bold reverse" if r == selected_row else "dim"
        out.append(mark, style="bold")
        out.append(f"{r:>{gutter - 2}} ", style=label_style)
        for c in range(cols):
            rgb = colour(grid[r, c])
            if c == cursor_col:
                out.append(CURSOR, style=Style(color=text_on(rgb), bgcolor=Color.from_rgb(*rgb)))
            else:
                out.append(" ", style=bg_style(rgb))
        out.append("\n")
    # The time axis: the tokens themselves when each has its own column(s), else token
    # numbers; in the gutter, how many tokens each column averages.
    out.append(axis_map.note.rjust(gutter - 1)[: gutter - 1] + " ", style="dim italic")
    if axis is not None and axis_map.per_column <= 1:
        first = axis_map.first_columns()
        for c in range(cols):
            t = int(axis_map.starts[c])
            label = ((axis[t] if t < len(axis) else " ")[:1] or " ") if first[c] else " "
            out.append(label, style="reverse bold" if c == cursor_col else "dim")
    else:
        line = Text(axis_map.ticks(), style="dim")
        if cursor_col is not None:
            line.stylize("reverse bold", cursor_col, cursor_col + 1)
        out.append_text(line)
    return out


class Heatmap(Widget):
    """Units x time heatmap of plain data: ``set_data(values (units, T), ...)``."""

    DEFAULT_CSS = """
    Heatmap { height: 1fr; width: 1fr; text-wrap: nowrap; text-overflow: clip; }
    """

    class Clicked(Message):
        """A cell was clicked: the unit (row) and the token index (first of its bin)."""

        def __init__(self, heatmap: Heatmap, row: int, step: int) -> None:
            super().__init__()
            self.heatmap = heatmap
            self.row = row
            self.step = step

        @property
        def control(self) -> Heatmap:
            return self.heatmap

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.values = np.zeros((0, 0))
        self.selected_row: int | None = None
        self.cursor: int | None = None
        self.kind = "diverging"
        self.scale: float | None = None
        self.axis: list[str] | None = None
        self.top = 0

    def set_data(
        self,
        values,
        *,
        selected_row: int | None = None,
        cursor: int | None = None,
        kind: str = "diverging",
        scale: float | None = None,
        axis: list[str] | None = None,
    ) -> None:
        self.values = np.asarray(values, dtype=np.float64)
        if self.values.ndim != 2:
            self.values = np.zeros((0, 0))
        self.selected_row, self.cursor, self.kind, self.scale, self.axis = selected_row, cursor, kind, scale, axis
        self.refresh()

    def _gutter(self) -> int:
        return len(str(max(self.values.shape[0] - 1, 0))) + 2

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        rows = self.values.shape[0]
        self.top = first_visible_row(rows, max(1, height - 1), self.selected_row, self.top)
        return render_heatmap(
            self.values,
            width=width,
            height=height,
            top=self.top,
            selected_row=self.selected_row,
            cursor=self.cursor,
            kind=self.kind,
            scale=self.scale,
            axis=self.axis,
        )

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self.values.size == 0:
            return
        rows, steps = self.values.shape
        row = self.top + offset.y
        col = offset.x - self._gutter()
        if row >= rows or offset.y >= max(1, self.content_size.height - 1) or col < 0:
            return
        step = TimeAxis.fit(steps, max(1, self.content_size.width - self._gutter())).token_at(col)
        if step is not None:
            self.post_message(self.Clicked(self, row, step))
