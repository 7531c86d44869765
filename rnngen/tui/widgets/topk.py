"""Next-token candidates as probability bars: ``render_topk`` and the ``TopKBars`` widget."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from rnngen.terminal_text import visible_controls

EIGHTHS = " ▏▎▍▌▋▊▉█"


@dataclass(frozen=True)
class Candidate:
    label: str  # the token, shown as it reads (see show_token)
    prob: float  # the model's probability
    sample_prob: float | None = None  # after temperature / top-k / top-p, if known
    chosen: bool = False  # the token that actually came


def show_token(token: str) -> str:
    """A token made visible: line breaks, tabs and spaces get a glyph, other controls read ``^[``."""
    if token == "":
        return "∅"
    return visible_controls(token.replace("\n", "↵").replace("\t", "→").replace(" ", "␣"))


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells filled to ``fraction`` (eighth-cell precision)."""
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[rest] if rest else "")).ljust(width)


def render_topk(
    candidates: list[Candidate],
    *,
    width: int,
    header: str = "",
    entropy: float | None = None,
    selected: int | None = None,
) -> Text:
    """One line per candidate: token, bar, model probability (and the sampling one);
    the ``selected`` row (a choice the user is about to take) is shown reversed."""
    out = Text(no_wrap=True, overflow="crop")
    if header:
        out.append(header + "\n", style="bold")
    if entropy is not None:
        out.append(f"entropy {entropy:.2f} nats\n", style="dim")
    if not candidates:
        return out
    two = any(c.sample_prob is not None for c in candidates)
    label_w = min(8, max(3, max(len(show_token(c.label)) for c in candidates)))
    numbers_w = 12 if two else 6
    bar_w = max(3, width - label_w - numbers_w - 3)
    for row, c in enumerate(candidates):
        mark = "▶" if c.chosen else " "
        style = "bold" if c.chosen else ""
        label = show_token(c.label)
        label = label if len(label) <= label_w else label[: label_w - 1] + "…"
        out.append(mark, style=style)
        out.append(f"{label:<{label_w}}", style=f"{style} reverse" if row == selected else style)
        out.append(" ")
        out.append(bar(c.prob, bar_w), style="#f0a030" if c.chosen else "#4fa3e0")
        out.append(f" {c.prob:5.3f}", style=style)
        if two:
            sp = "   -  " if c.sample_prob is None else f" {c.sample_prob:5.3f}"
            out.append(sp, style="dim")
        out.append("\n")
    out.rstrip()
    return out


class TopKBars(Widget):
    """Candidate bars for one step: ``set_data(candidates, header=..., entropy=...)``."""

    DEFAULT_CSS = """
    TopKBars { height: auto; width: 1fr; text-wrap: nowrap; text-overflow: clip; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.candidates: list[Candidate] = []
        self.header = ""
        self.entropy: float | None = None
        self.note = ""
        self.selected: int | None = None  # the row chosen with the keys, if any

    def set_data(
        self,
        candidates: list[Candidate],
        *,
        header: str = "",
        entropy: float | None = None,
        note: str = "",
        selected: int | None = None,
    ) -> None:
        self.candidates, self.header, self.entropy, self.note = list(candidates), header, entropy, note
        self.selected = selected
        self.refresh(layout=True)

    def render(self) -> Text:
        out = render_topk(
            self.candidates,
            width=self.content_size.width,
            header=self.header,
            entropy=self.entropy,
            selected=self.selected,
        )
        if self.note:
            if out.plain:
                out.append("\n")
            out.append(self.note, style="dim italic")
        return out
