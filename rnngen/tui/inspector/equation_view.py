"""5 Equations: the cell's equations for the selected layer, unit and token, with the
numbers filled in.

Where each gate's value comes from: the input's part (W_ih x_t + b), the previous
state's part (W_hh h_{t-1}), their sum through the gate's nonlinearity, and the value one
step earlier beside it. The parts come from ``rnngen.cell_equations`` (a few dot products
for one unit, so they are computed when the view draws, never for the whole text); the
values are the inspection record's own, the numbers ``rnngen inspect --json`` prints.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from rnngen.cell_equations import UnitStep, unit_step
from rnngen.tui.inspector import messages as msg
from rnngen.tui.inspector.state import InspectorState
from rnngen.tui.inspector.views import CURSOR_KEYS, UNIT_KEYS, View, activation_legend, focus_now
from rnngen.tui.widgets import TokenText, show_token
from rnngen.tui.widgets.colors import activation_rgb, bg_style
from rnngen.tui.widgets.equations import render_equations


def _token(record, step: int) -> str:
    return f"'{show_token(record.tokens[step])[:12]}'"


class EquationView(View):
    BINDINGS = [*UNIT_KEYS, *CURSOR_KEYS]

    def __init__(self, state: InspectorState, *, id: str | None = None) -> None:
        super().__init__(state, id=id)
        self.now: UnitStep | None = None  # what is drawn (tests read it)
        self.before: UnitStep | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="eq-info", classes="info")
        yield Static(id="eq-body")
        yield Static(id="eq-caption", classes="caption")
        yield TokenText(id="eq-text")

    def on_token_text_clicked(self, event: TokenText.Clicked) -> None:
        focus_now(self)
        self.post_message(msg.SelectAt(record_step=event.index))

    def refresh_from(self, state: InspectorState) -> None:
        info = self.query_one("#eq-info", Static)
        body = self.query_one("#eq-body", Static)
        caption = self.query_one("#eq-caption", Static)
        text = self.query_one("#eq-text", TokenText)
        record = state.record
        rc = state.record_cursor()
        self.now = self.before = None
        if record is None or state.opened is None or rc is None:
            waiting = state.waiting_message() if record is None else "the cursor is before the inspected window"
            info.update(Text(waiting, style="dim italic"))
            body.update("")
            caption.update("")
            text.set_data([], [])
            return
        model = state.opened.model
        layer, unit = state.layer, state.unit
        self.now = unit_step(model, record, layer=layer, unit=unit, step=rc)
        self.before = unit_step(model, record, layer=layer, unit=unit, step=rc - 1) if rc > 0 else None
        t = record.offset + rc + 1  # counted from 1 over the whole text, as the other views do
        start = "h and c" if record.cell == "lstm" else "h"
        came_from = "the embedding of " + _token(record, rc) if layer == 0 else f"h_t of layer {layer}"
        info.update(
            Text.assemble(
                (f"{record.cell.upper()} layer {layer + 1}/{record.layers} · ", "bold"),
                (f"unit {unit}/{record.hidden_size}", "bold #f0a030"),
                f" · t={t} {_token(record, rc)}",
                (
                    f" · before it {_token(record, rc - 1)}" if rc > 0 else f" · the first token: {start} start at 0",
                    "dim",
                ),
                (f"\nx_t: {came_from} · h_{{t-1}}: this layer's h one token earlier", "dim"),
            )
        )
        body.update(render_equations(self.now, self.before, where=f"t={t}", earlier=f"t={t - 1}" if rc else "start"))
        column = record.hidden[layer][:, unit]
        caption.update(Text.assemble((f"text coloured by h[{unit}] ", "bold"), activation_legend()))
        styles: list[Style | None] = [bg_style(activation_rgb(float(v), 1.0)) for v in column]
        text.set_data(state.record_pieces, styles, rc)
