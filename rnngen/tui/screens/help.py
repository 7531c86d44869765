"""The help screen: every key, and what each view teaches."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = [
    (
        "Views",
        [
            ("1", "Sample: generate; tokens coloured by probability"),
            ("2", "Hidden: units x time heatmap of h (or c)"),
            ("3", "Gates: gate activations and saturation per unit"),
            ("4", "Gradient: ||dL/dh_t|| back through time, log scale"),
            ("5", "Equations: the cell's equations with live numbers"),
            ("6", "Units: which units track which feature of the text"),
            ("? / q", "this help / quit"),
            ("ctrl+o", "open another checkpoint"),
        ],
    ),
    (
        "Everywhere",
        [
            ("← →", "cursor one token left / right (or click a token)"),
            ("home end", "first / last token"),
        ],
    ),
    (
        "Sample",
        [
            ("g", "generate with the prompt and settings above"),
            ("e", "edit the prompt (enter: generate, esc: leave it)"),
            ("u", "colour by probability, or by the chosen unit"),
            ("c", "mark text copied from the corpus (on / off)"),
            ("↑ ↓", "cursor one line up / down"),
            ("j k", "choose another candidate at the cursor (down / up)"),
            ("enter", "take it instead of the sampled token, sample on"),
            ("backspace", "step back: undo the last branch (or drop a token)"),
        ],
    ),
    (
        "Hidden, Gates and Equations",
        [
            ("↑↓ pgup pgdn", "choose a unit (or click its row)"),
            ("[ ]", "previous / next layer"),
            ("c", "hidden: h, or the LSTM cell state c"),
            ("a", "hidden: jump to the next most active unit"),
            ("g", "gates: next gate"),
            ("← →", "equations: the numbers one token earlier / later"),
        ],
    ),
    (
        "Units",
        [
            ("↑ ↓", "the feature's next / previous ranked unit"),
            ("f / F", "next / previous feature (or pgdn / pgup, or a click)"),
        ],
    ),
    (
        "Gradient",
        [
            ("m", "loss at the last token, or the mean loss"),
            ("o / x", "compare with a second checkpoint / stop"),
        ],
    ),
]

LESSONS = """\
What to look for
  Sample    Red tokens surprised the model; green ones it saw coming. The bars
            show the candidates at the cursor: the model's own probability and,
            dimmed, the probability after temperature / top-k / top-p. Take
            another candidate (j k, enter) to see where the text would have gone.
  Hidden    Most units flicker; a few track something you can name: inside
            quotes, position in the line, indentation (Karpathy 2015). Find one
            with ↑↓ and watch the text below light up.
  Gates     Dots are units: left = gate mostly closed (<0.1), up = mostly open
            (>0.9). Forget gates near the top keep memories for long.
  Gradient  How much the loss at the end depends on each earlier state. A plain
            RNN's bars fall off a cliff going left (vanishing gradient); an
            LSTM's stay up: gates let the error signal reach far back. Press o
            to put an RNN and an LSTM side by side on the same text.
  Equations Where a gate's value comes from: the input's part W x_t + b and
            the previous state's part W h_{t-1}, added, then squashed. A forget
            gate near 1 with c_t close to c_{t-1}: the unit is remembering.
  Units     For each feature of the text (position in the line, quotes,
            brackets...) the units whose value follows it best, by |r|; yes/no
            features also get a one-unit probe's accuracy beside the base rate
            (always guessing the commoner answer). A probe no better than the
            base rate found nothing. An untrained model's best |r| is the bar
            a learned unit has to clear.
"""


def help_text() -> Text:
    out = Text()
    for title, rows in HELP:
        out.append(f"{title}\n", style="bold underline")
        for key, what in rows:
            out.append(f"  {key:<13}", style="bold #f0a030")
            out.append(f"{what}\n")
        out.append("\n")
    out.append(LESSONS)
    return out


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "close"),
        Binding("question_mark", "close", "close", show=False),
        Binding("q", "close", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(help_text(), id="help-text")

    def on_mount(self) -> None:
        box = self.query_one("#help-box")
        box.border_title = "rnngen tui — help"
        box.border_subtitle = "esc closes"
        box.focus()

    def action_close(self) -> None:
        self.dismiss(None)
