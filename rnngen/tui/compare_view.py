"""``rnngen compare --tui``: the cells' loss curves and gradient-through-time profiles side
by side, filled in live while each cell trains in turn (one Textual thread worker)."""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.filter import LineFilter
from textual.widgets import Footer, Static

from rnngen.compare import CellResult, fmt_ratio, run_comparison
from rnngen.live import ProbeEvent
from rnngen.training import DoneEvent, EvalEvent, StartEvent, StepEvent, Trainer
from rnngen.tui.control_filter import DROP_CONTROLS
from rnngen.tui.widgets.charts import fmt, line_chart, log_bars, smooth
from rnngen.tui.widgets.panel import Panel


class CompareDashboard(App):
    CSS = """
    #status { height: 1; background: $panel; }
    .column { width: 1fr; }
    .panel { height: 1fr; border: round $primary; border-title-color: $accent; padding: 0 1; overflow: hidden hidden; }
    """
    TITLE = "rnngen compare"
    BINDINGS = [
        Binding("q", "quit_compare", "quit"),
        Binding("ctrl+c", "quit_compare", "quit", show=False, priority=True),
    ]

    def __init__(self, trainers: list[Trainer], *, probe_len: int = 96, refresh_hz: float = 4.0):
        super().__init__()
        self.trainers = trainers
        self.cells = [t.config.cell for t in trainers]
        self.probe_len = probe_len
        self.refresh_hz = refresh_hz
        self.queue: collections.deque = collections.deque()
        self.stop = threading.Event()
        self.finished = threading.Event()
        self.results: list[CellResult] = []
        self.curves: dict[str, list[tuple[int, float]]] = {c: [] for c in self.cells}
        self.val: dict[str, list[tuple[int, float]]] = {c: [] for c in self.cells}
        self.probe: dict[str, ProbeEvent] = {}
        self.state = dict.fromkeys(self.cells, "waiting")
        self.total = dict.fromkeys(self.cells)
        self.quitting = False

    def get_line_filters(self) -> Sequence[LineFilter]:
        return [*super().get_line_filters(), DROP_CONTROLS]  # no control character reaches the terminal raw

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        with Horizontal():
            for cell in self.cells:
                with Vertical(classes="column"):
                    yield Panel(f"{cell.upper()} loss", id=f"loss-{cell}")
                    yield Panel(f"{cell.upper()} ‖dL/dh_t‖ (log)", id=f"gtt-{cell}")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1 / self.refresh_hz, self.redraw)
        self.run_worker(self._work, thread=True, exit_on_error=False, name="compare")

    def _work(self) -> None:
        try:
            self.results = run_comparison(
                self.trainers, callback=lambda c, e: self.queue.append((c, e)), stop=self.stop, probe_len=self.probe_len
            )
        finally:
            self.finished.set()

    def redraw(self) -> None:
        while self.queue:
            cell, event = self.queue.popleft()
            if isinstance(event, StepEvent):
                self.curves[cell].append((event.step, event.loss))
                self.state[cell] = f"step {event.step}"
            elif isinstance(event, StartEvent):
                self.total[cell] = event.total_steps
                self.state[cell] = "training"
            elif isinstance(event, EvalEvent) and event.val is not None:
                self.val[cell].append((event.step, event.val.loss))
            elif isinstance(event, ProbeEvent):
                self.probe[cell] = event
            elif isinstance(event, DoneEvent):
                self.state[cell] = f"done, {event.step} steps"
        if self.quitting and self.finished.is_set():
            self.exit(return_code=0)
            return
        status = Text(" " + " · ".join(f"{c.upper()} {self.state[c]}" for c in self.cells))
        status.append("  ·  done: q quits" if self.finished.is_set() else "", style="bold green")
        self.query_one("#status", Static).update(status)
        for cell in self.cells:
            loss = self.query_one(f"#loss-{cell}", Panel)
            size = loss.content_size
            last_val = self.val[cell][-1][1] if self.val[cell] else None
            head = Text(f"val loss {fmt(last_val)}\n", style="bold")
            loss.show(
                head
                + line_chart(
                    [(smooth(self.curves[cell]), "·", "cyan"), (self.val[cell], "◆", "bold yellow")],
                    max(size.width, 12),
                    max(size.height - 1, 2),
                    x_max=self.total[cell],
                )
            )
            gtt = self.query_one(f"#gtt-{cell}", Panel)
            size = gtt.content_size
            p = self.probe.get(cell)
            if p is None:
                gtt.show(Text("waiting for the first probe…", style="dim"))
            else:
                head = Text(f"step {p.step} · h1/hT {fmt_ratio(p.decay_ratio)}\n", style="bold")
                gtt.show(head + log_bars(p.grad_norms[-1], max(size.width, 12), max(size.height - 1, 2), decades=40))

    def action_quit_compare(self) -> None:
        self.quitting = True
        self.stop.set()
        if self.finished.is_set():
            self.exit(return_code=0)
