"""The cell's equations with one unit's numbers filled in (plain data in, rich Text out).

``render_equations(now, before)`` draws, for a ``cell_equations.UnitStep``, the cell's
equations as docs/reference.md writes them, then one row per gate: the input's part
W_ih x_t + b, the previous state's part W_hh h_{t-1}, their sum through the gate's
nonlinearity and the recorded value, with the value one step earlier (``before``) in a
column on the right; then the state updates (c_t, h_t) with their numbers.
"""

from __future__ import annotations

from rich.text import Text

from rnngen.cell_equations import GateTerms, UnitStep

SYMBOLIC = {
    "lstm": [
        "i, f, g, o = σ, σ, tanh, σ of W_ih x_t + b + W_hh h_{t-1},  b = b_ih + b_hh",
        "c_t = f ⊙ c_{t-1} + i ⊙ g        h_t = o ⊙ tanh(c_t)",
    ],
    "gru": [
        "r, z = σ of W_ih x_t + b + W_hh h_{t-1},  b = b_ih + b_hh",
        "n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))",
        "h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}",
    ],
    "rnn": ["h_t = tanh(W_ih x_t + b + W_hh h_{t-1}),  b = b_ih + b_hh"],
}
PART_WIDTH = 13  # the input and state columns
DIM = "dim"
VALUE = "bold #f0a030"
BEFORE = "#8fb8de"


def _num(x: float) -> str:
    return f"{x:+.3f}"


Row = tuple[Text, float, float | None]  # what leads to the value, the value, the value one step earlier


def _gate_row(g: GateTerms, earlier: GateTerms | None) -> Row:
    state = _num(g.from_state) if g.scale == 1.0 else f"{g.scale:.2f}⊙{_num(g.from_state)}"
    pre = g.from_input + g.scale * g.from_state
    out = Text(no_wrap=True, overflow="crop")
    out.append(f" {g.symbol:<3} {g.nonlinearity:>4}(", style="bold")
    out.append(f"{_num(g.from_input):>{PART_WIDTH - 4}}")
    out.append("  +  ", style=DIM)
    out.append(f"{state:<{PART_WIDTH}}")
    out.append(f") = {g.nonlinearity:>4}({_num(pre)}) = ", style=DIM)
    return out, g.value, earlier.value if earlier is not None else None


def _state_row(label: str, numbers: str, value: float, earlier: float | None) -> Row:
    out = Text(no_wrap=True, overflow="crop")
    out.append(f" {label}", style="bold")
    out.append(f" = {numbers} = ", style=DIM)
    return out, value, earlier


def _state_rows(now: UnitStep, before: UnitStep | None) -> list[Row]:
    """c_t and h_t with their numbers; beside them c_{t-1} and h_{t-1} (zeros at the start)."""
    v = {g.symbol: g.value for g in now.gates}
    if now.cell == "lstm":
        assert now.c is not None and now.c_prev is not None
        return [
            _state_row(
                "c_t",
                f"f ⊙ c_{{t-1}} + i ⊙ g = {v['f']:.3f}⊙{_num(now.c_prev)} + {v['i']:.3f}⊙{_num(v['g'])}",
                now.c,
                now.c_prev,
            ),
            _state_row("h_t", f"o ⊙ tanh(c_t) = {v['o']:.3f}⊙tanh({_num(now.c)})", now.h, now.h_prev),
        ]
    if now.cell == "gru":
        numbers = f"{1 - v['z']:.3f}⊙{_num(v['n'])} + {v['z']:.3f}⊙{_num(now.h_prev)}"
        return [_state_row("h_t", f"(1-z)⊙n + z⊙h_{{t-1}} = {numbers}", now.h, now.h_prev)]
    return []


def render_equations(now: UnitStep, before: UnitStep | None, *, where: str = "t", earlier: str = "t-1") -> Text:
    """The equations of ``now``'s cell with its numbers; ``before``: the same unit one step
    earlier (None at the first step). ``where`` / ``earlier`` head the two value columns."""
    out = Text(no_wrap=True, overflow="crop")
    for line in SYMBOLIC[now.cell]:
        out.append(f" {line}\n", style="italic")
    out.append("\n")
    previous = {g.gate: g for g in before.gates} if before is not None else {}
    rows = [_gate_row(g, previous.get(g.gate)) for g in now.gates] + _state_rows(now, before)
    if now.cell == "rnn":  # its one row is h_t: beside it h_{t-1}, 0 at the start
        rows[0] = (rows[0][0], rows[0][1], now.h_prev)
    lead = max(len(text) for text, _, _ in rows)
    header = f" {'':<3} {'':>4} {'W_ih x_t + b':>{PART_WIDTH - 4}}     {'W_hh h_{t-1}':<{PART_WIDTH}}"
    out.append(f"{header:<{lead}}", style="bold " + DIM)
    out.append(f"{where[:6]:>6}", style=VALUE)
    out.append(" │ ", style=DIM)
    out.append(f"{earlier[:8]}\n", style="bold " + BEFORE)
    for i, (text, value, earlier_value) in enumerate(rows):
        out.append_text(text)
        out.append(" " * (lead - len(text)))
        out.append(_num(value), style=VALUE)
        out.append(" │ ", style=DIM)
        out.append(_num(earlier_value) if earlier_value is not None else "   –", style=BEFORE)
        if i < len(rows) - 1:
            out.append("\n")
    return out
