"""The inspector's four views. Each is a focusable container holding the view's keys;
it draws the ``InspectorState`` it was given (``refresh_from``) with the plain-data
widgets, and asks for changes by posting messages (``rnngen.tui.inspector.messages``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from rnngen.probe_stats import (
    SIGMOID_GATES,
    describe_decay_ratio,
    gate_saturation,
    grad_decay_per_step,
    grad_decay_ratio,
)
from rnngen.tui.inspector import messages as msg
from rnngen.tui.inspector.state import InspectorState
from rnngen.tui.widgets import Candidate, Heatmap, LogChart, SaturationPlot, TokenText, TopKBars, show_token
from rnngen.tui.widgets.colors import SERIES, activation_rgb, bg_style, prob_rgb

COPIED_STYLE = Style(color="#ff5fd7", bold=True, italic=True)  # text copied from the training corpus

CURSOR_KEYS: list[BindingType] = [
    Binding("left", "move(-1)", "token", key_display="←→"),
    Binding("right", "move(1)", "token", show=False),
    Binding("home", "move_to(0)", "first", show=False),
    Binding("end", "move_to(-1)", "last", show=False),
]
UNIT_KEYS: list[BindingType] = [
    Binding("up", "unit(-1)", "unit", key_display="↑↓"),
    Binding("down", "unit(1)", "unit", show=False),
    Binding("pageup", "unit(-10)", "unit -10", show=False),
    Binding("pagedown", "unit(10)", "unit +10", show=False),
    Binding("left_square_bracket", "layer(-1)", "layer", key_display="[]"),
    Binding("right_square_bracket", "layer(1)", "layer", show=False),
]


def focus_now(widget) -> None:
    """Focus ``widget`` at once (``Widget.focus`` defers it, so keys already typed would
    still reach the old focus: "1" then "e" typed together must edit the prompt)."""
    widget.screen.set_focus(widget)


def probability_legend() -> Text:
    out = Text("p ", style="dim")
    for p, label in ((0.001, ".001"), (0.01, ".01"), (0.1, ".1"), (0.5, ".5"), (1.0, "1")):
        rgb = prob_rgb(p)
        if rgb is not None:
            out.append(f" {label} ", style=bg_style(rgb))
    return out


def copy_line_text(line: str) -> Text:
    """The copy check's line: "copied" shown in the style the marked text has."""
    out = Text(no_wrap=True, overflow="ellipsis", style="dim")
    if line.startswith("copied "):
        out.append("copied", style=COPIED_STYLE)
        line = line[len("copied") :]
    out.append(line)
    return out


def activation_legend(scale: float = 1.0) -> Text:
    out = Text("unit ", style="dim")
    for v in (-1.0, -0.5, 0.0, 0.5, 1.0):
        label = "0" if v == 0 else f"{v * scale:+.2g}".replace("0.", ".")
        out.append(f"{label:^5}", style=bg_style(activation_rgb(v * scale, scale)))
    return out


class View(Vertical, can_focus=True):
    """Base: the cursor keys, shared by every view."""

    BINDINGS: ClassVar[list[BindingType]] = CURSOR_KEYS

    def __init__(self, state: InspectorState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state

    def action_move(self, delta: int) -> None:
        self.post_message(msg.MoveCursor(delta))

    def action_move_to(self, where: int) -> None:
        self.post_message(msg.MoveCursor(to=where))

    def action_unit(self, delta: int) -> None:
        self.post_message(msg.ChangeUnit(delta))

    def action_layer(self, delta: int) -> None:
        self.post_message(msg.ChangeLayer(delta))

    def refresh_from(self, state: InspectorState) -> None:  # pragma: no cover - overridden
        pass


# ---- 1 sample ----------------------------------------------------------------------------


class SampleView(View):
    BINDINGS = [
        Binding("g", "generate", "generate"),
        Binding("e", "edit_prompt", "prompt"),
        Binding("u", "toggle_colour", "colour"),
        Binding("c", "toggle_copies", "copies"),
        *CURSOR_KEYS,
        Binding("up", "line(-1)", "line", show=False),
        Binding("down", "line(1)", "line", show=False),
        Binding("j", "choose(1)", "choose", key_display="jk"),
        Binding("k", "choose(-1)", "choose", show=False),
        Binding("enter", "take", "take", show=False),
        Binding("backspace", "step_back", "back", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="controls"):
            yield Label("prompt ", classes="field-label")
            yield Input(placeholder="(empty: start at a line break)", id="prompt", compact=True)
            yield Label(" T ", classes="field-label")
            yield Input("0.8", id="temp", compact=True, classes="number")
            yield Label(" k ", classes="field-label")
            yield Input("0", id="topk", compact=True, classes="number")
            yield Label(" p ", classes="field-label")
            yield Input("1.0", id="topp", compact=True, classes="number")
            yield Label(" n ", classes="field-label")
            yield Input("200", id="length", compact=True, classes="number")
        yield Static(id="copy-line")
        with Horizontal(id="sample-body"):
            yield TokenText(id="sample-text")
            with Vertical(id="sample-side"):
                yield TopKBars(id="topk-bars")
                yield Static(id="sample-legend")

    def action_generate(self) -> None:
        self.post_message(msg.Generate())

    def action_edit_prompt(self) -> None:
        focus_now(self.query_one("#prompt", Input))

    def action_toggle_colour(self) -> None:
        self.post_message(msg.ToggleColour())

    def action_toggle_copies(self) -> None:
        self.post_message(msg.ToggleCopies())

    def action_choose(self, delta: int) -> None:
        self.post_message(msg.MoveChoice(delta))

    def action_take(self) -> None:
        self.post_message(msg.TakeChoice())

    def action_step_back(self) -> None:
        self.post_message(msg.StepBack())

    def action_line(self, delta: int) -> None:
        text = self.query_one("#sample-text", TokenText)
        if self.state.doc:
            self.post_message(msg.MoveCursor(to=text.neighbour_on_line(self.state.cursor, delta)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        focus_now(self)
        self.post_message(msg.Generate())

    def on_token_text_clicked(self, event: TokenText.Clicked) -> None:
        focus_now(self)
        self.post_message(msg.MoveCursor(to=event.index))

    def settings(self) -> dict[str, str]:
        return {name: self.query_one(f"#{name}", Input).value for name in ("prompt", "temp", "topk", "topp", "length")}

    def refresh_from(self, state: InspectorState) -> None:
        text = self.query_one("#sample-text", TokenText)
        bars = self.query_one("#topk-bars", TopKBars)
        legend = self.query_one("#sample-legend", Static)
        copy_line = self.query_one("#copy-line", Static)
        if state.opened is None:
            text.set_data([], [], placeholder="no checkpoint open (ctrl+o)")
            bars.set_data([])
            legend.update("")
            copy_line.update("")
            return
        copied = state.copies.marked(state.pieces)
        copy_line.update(copy_line_text(state.copies.line(state.pieces, generating=state.generating)))
        unit_values = state.unit_values_for_doc() if state.colour_by == "unit" else None
        chosen = state.chosen_positions()
        styles: list[Style | None] = []
        for i, step in enumerate(state.doc):
            if unit_values is not None:
                v = unit_values[i]
                style = None if v is None else bg_style(activation_rgb(v, state.unit_scale()))
            else:
                rgb = prob_rgb(step.prob)
                style = None if rgb is None else bg_style(rgb)
            if i in chosen:  # a branch point: underlined, so the choices made stay visible
                style = (style or Style()) + Style(underline=True)
            if i in copied:  # inside a stretch found verbatim in the training corpus
                style = (style or Style()) + COPIED_STYLE
            styles.append(style)
        text.set_data(
            state.pieces,
            styles,
            state.cursor if state.doc else None,
            placeholder="generating…" if state.generating else "press g to generate",
        )
        if unit_values is not None:
            legend.update(
                Text.assemble(
                    activation_legend(state.unit_scale()),
                    (f"\nL{state.layer + 1} {state.state_kind}[{state.unit}] · u: probability", "dim"),
                )
            )
        else:
            legend.update(Text.assemble(probability_legend(), ("\nu: colour by a unit", "dim")))
        if not state.doc:
            bars.set_data([], note="")
            return
        t = state.cursor
        step = state.doc[t]
        tok = state.opened.tokenizer
        where = f"{t + 1}/{len(state.doc)} {show_token(tok.token_text(step.token_id))}"
        if step.prob is None:
            bars.set_data([], header=where, note="the first token: nothing predicts it")
            return
        candidates = [Candidate(tok.token_text(i), p, sp, i == step.token_id) for i, p, sp in state.candidates_at(t)]
        kind = "prompt" if step.prompt else "chosen" if t in chosen else "sampled"
        if step.prompt:
            note = ""
        elif state.choice is None:
            note = "bars: model p; dim: sampling p\nj/k: choose another token"
        else:
            note = "enter: take it, sample on\nbackspace: step back"
        bars.set_data(candidates, header=f"{where} ({kind})", entropy=step.entropy, note=note, selected=state.choice)


# ---- 2 hidden state ------------------------------------------------------------------------


class HiddenView(View):
    BINDINGS = [
        *UNIT_KEYS,
        *CURSOR_KEYS,
        Binding("c", "toggle_state", "h/c"),
        Binding("a", "next_active", "active unit", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="hidden-info", classes="info")
        yield Heatmap(id="hidden-map")
        yield Static(id="hidden-caption", classes="caption")
        yield TokenText(id="hidden-text")

    def action_toggle_state(self) -> None:
        self.post_message(msg.ToggleState())

    def action_next_active(self) -> None:
        self.post_message(msg.NextActiveUnit())

    def on_heatmap_clicked(self, event: Heatmap.Clicked) -> None:
        focus_now(self)
        self.post_message(msg.SelectAt(unit=event.row, record_step=event.step))

    def on_token_text_clicked(self, event: TokenText.Clicked) -> None:
        focus_now(self)
        self.post_message(msg.SelectAt(record_step=event.index))

    def refresh_from(self, state: InspectorState) -> None:
        info = self.query_one("#hidden-info", Static)
        heat = self.query_one("#hidden-map", Heatmap)
        caption = self.query_one("#hidden-caption", Static)
        text = self.query_one("#hidden-text", TokenText)
        record = state.record
        if record is None:
            info.update(Text(state.waiting_message(), style="dim italic"))
            heat.set_data(np.zeros((0, 0)))
            caption.update("")
            text.set_data([], [])
            return
        values = state.state_values()  # (T, H)
        rc = state.record_cursor()
        kind = state.state_kind
        at = ""
        if rc is not None:
            at = f" · t={rc + record.offset + 1} '{show_token(record.tokens[rc])}': {values[rc, state.unit]:+.3f}"
        info.update(
            Text.assemble(
                (f"layer {state.layer + 1}/{record.layers} ", "bold"),
                (f"{kind}" + (" (cell)" if kind == "c" else ""), "bold #f0a030"),
                f" · unit {state.unit}/{record.hidden_size}{at}",
                (f" · mean|{kind}| {np.abs(values[:, state.unit]).mean():.2f}", "dim"),
            )
        )
        scale = state.unit_scale()
        heat.set_data(
            values.T,
            selected_row=state.unit,
            cursor=rc,
            kind="diverging",
            scale=scale,
            axis=[show_token(p.strip() or p) for p in state.record_pieces],
        )
        caption.update(Text.assemble((f"text coloured by {kind}[{state.unit}] ", "bold"), activation_legend(scale)))
        column = values[:, state.unit]
        styles: list[Style | None] = [bg_style(activation_rgb(float(v), scale)) for v in column]
        text.set_data(state.record_pieces, styles, rc)


# ---- 3 gates -------------------------------------------------------------------------------


class GatesView(View):
    BINDINGS = [
        *UNIT_KEYS,
        *CURSOR_KEYS,
        Binding("g", "next_gate", "gate"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="gates-info", classes="info")
        yield Horizontal(id="sat-row")
        yield Heatmap(id="gates-map")

    def action_next_gate(self) -> None:
        self.post_message(msg.NextGate())

    def on_heatmap_clicked(self, event: Heatmap.Clicked) -> None:
        focus_now(self)
        self.post_message(msg.SelectAt(unit=event.row, record_step=event.step))

    def refresh_from(self, state: InspectorState) -> None:
        info = self.query_one("#gates-info", Static)
        row = self.query_one("#sat-row", Horizontal)
        heat = self.query_one("#gates-map", Heatmap)
        record = state.record
        if record is None or record.cell == "rnn":
            if record is None:
                message = Text(state.waiting_message(), style="dim italic")
            else:
                message = Text.assemble(
                    ("A plain RNN has no gates: ", "bold"),
                    "h_t = tanh(W x_t + U h_{t-1} + b). Every step squashes the whole state "
                    "through the same tanh, so nothing decides what to keep. Compare its "
                    "gradient view (4) with an LSTM's.",
                )
            info.update(message)
            row.display = False
            heat.set_data(np.zeros((0, 0)))
            return
        row.display = True
        names = SIGMOID_GATES[record.cell]
        plots = list(row.query(SaturationPlot))
        if len(plots) != len(names):
            row.remove_children()
            plots = [SaturationPlot(classes="sat-plot") for _ in names]
            row.mount(*plots)
        layer = record.gates[state.layer]
        for i, (plot, name) in enumerate(zip(plots, names)):
            low, high = gate_saturation(layer[name])
            closed, opened = int((low > 0.5).sum()), int((high > 0.5).sum())
            title = f"{'▶' if name == state.gate else ''}{name} ↑open {opened} →shut {closed}"
            plot.set_data(low, high, title=title, color=SERIES[i % len(SERIES)])
        gate = state.gate
        values = layer[gate]  # (T, H)
        rc = state.record_cursor()
        low, high = gate_saturation(values)
        u = state.unit
        at = f" · t={rc + record.offset + 1}: {values[rc, u]:.2f}" if rc is not None else ""
        info.update(
            Text.assemble(
                (f"layer {state.layer + 1}/{record.layers} ", "bold"),
                (f"{gate} gate", "bold #f0a030"),
                f" · unit {u}: closed {low[u]:.0%}, open {high[u]:.0%} of steps{at}",
            )
        )
        sigmoid = gate in names
        heat.set_data(
            values.T,
            selected_row=u,
            cursor=rc,
            kind="sequential" if sigmoid else "diverging",
            scale=1.0,
            axis=[show_token(p.strip() or p) for p in state.record_pieces],
        )


# ---- 4 gradient through time ---------------------------------------------------------------


class GradientView(View):
    BINDINGS = [
        *CURSOR_KEYS,
        Binding("m", "toggle_loss", "loss"),
        Binding("o", "compare", "compare"),
        Binding("x", "drop_compare", "drop", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="grad-info", classes="info")
        with Horizontal(id="grad-row"):
            with Vertical(id="grad-main-col", classes="grad-col"):
                yield Static(id="grad-main-title", classes="grad-title")
                yield LogChart(id="grad-main")
            with Vertical(id="grad-compare-col", classes="grad-col"):
                yield Static(id="grad-compare-title", classes="grad-title")
                yield LogChart(id="grad-compare")

    def action_toggle_loss(self) -> None:
        self.post_message(msg.ToggleLoss())

    def action_compare(self) -> None:
        self.post_message(msg.OpenCompare())

    def action_drop_compare(self) -> None:
        self.post_message(msg.DropCompare())

    def on_log_chart_clicked(self, event: LogChart.Clicked) -> None:
        focus_now(self)
        if event.chart.id == "grad-main":
            self.post_message(msg.SelectAt(record_step=event.step))

    @staticmethod
    def _series(record) -> list[tuple[str, np.ndarray]]:
        series = []
        for k, g in enumerate(record.grad_through_time):
            ratio = grad_decay_ratio(g)
            per = grad_decay_per_step(g)
            label = f"L{k + 1} first/last {describe_decay_ratio(ratio)}"
            if per:
                label += f", ×{per:.2f}/step"
            series.append((label, g))
        return series

    def refresh_from(self, state: InspectorState) -> None:
        info = self.query_one("#grad-info", Static)
        main, other = self.query_one("#grad-main", LogChart), self.query_one("#grad-compare", LogChart)
        main_title = self.query_one("#grad-main-title", Static)
        other_title = self.query_one("#grad-compare-title", Static)
        compare_col = self.query_one("#grad-compare-col")
        compare_col.display = state.compare is not None
        record = state.record
        if record is None:
            info.update(Text(state.waiting_message(), style="dim italic"))
            main_title.update("")
            main.set_data([], message=" ")
            return
        if record.loss == "last":
            what = f"L = loss at the last token '{show_token(record.tokens[-1])}'"
        else:
            what = f"L = mean loss over {record.num_tokens - 1} predictions"
        info.update(
            Text.assemble(
                (what, "bold"),
                (f" · log scale · m: {'mean' if record.loss == 'last' else 'last'} loss", "dim"),
                (" · x: stop comparing" if state.compare is not None else " · o: compare", "dim"),
                ("\nbars: ‖dL/dh_t‖ per token · first/last: ‖dL/dh_1‖÷‖dL/dh_T‖, tiny = vanished", "dim"),
            )
        )
        series = self._series(record)
        all_series = [g for _, g in series]
        other_series: list[tuple[str, np.ndarray]] = []
        if state.compare_record is not None:
            other_series = self._series(state.compare_record)
            all_series += [g for _, g in other_series]
        from rnngen.tui.widgets.logchart import log_range

        yrange = log_range(all_series)
        rc = state.record_cursor()
        assert state.opened is not None
        main_title.update(Text.assemble((state.opened.name, f"bold {SERIES[0]}"), f" {state.opened.summary}"))
        main.set_data(series, yrange=yrange, cursor=rc, color=SERIES[0])
        if state.compare is not None:
            other_title.update(Text.assemble((state.compare.name, f"bold {SERIES[1]}"), f" {state.compare.summary}"))
            if state.compare_record is not None:
                other.set_data(other_series, yrange=yrange, color=SERIES[1])
            else:
                other.set_data([], message=state.compare_error or "reading the text…")
