"""What the training dashboard shows, as plain data: built from the trainer's events in
the UI thread (``DashboardState.apply``), read by the dashboard's panels. No Textual here.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from rnngen.live import PausedEvent, PreviewEvent, ProbeEvent
from rnngen.training import AlarmEvent, DoneEvent, EvalEvent, ReplanEvent, SavedEvent, StartEvent, StepEvent
from rnngen.tui.widgets.charts import fmt

MAX_POINTS = 4096  # history kept per series; halved in resolution beyond this


@dataclass
class DashboardState:
    """Everything the panels show, built from events in the UI thread."""

    start: StartEvent | None = None
    last_step: StepEvent | None = None
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    val_loss: list[tuple[int, float]] = field(default_factory=list)
    val_bpc: float | None = None
    grad_norm: list[float] = field(default_factory=list)
    clipped: list[bool] = field(default_factory=list)
    param_norms: dict[str, list[float]] = field(default_factory=dict)
    probe: ProbeEvent | None = None
    first_probe: ProbeEvent | None = None
    preview: PreviewEvent | None = None
    log: list[tuple[str, str]] = field(default_factory=list)
    alarm: AlarmEvent | None = None
    done: DoneEvent | None = None
    paused: bool = False
    error: str | None = None
    steps: int = 0
    versions: collections.Counter = field(default_factory=collections.Counter)  # panel -> changes

    def apply(self, event: object) -> None:
        n_log = len(self.log)
        self._apply(event)
        if len(self.log) != n_log:
            self.versions["log"] += 1
        if isinstance(event, ProbeEvent):
            self.versions["probe"] += 1
        elif isinstance(event, PreviewEvent):
            self.versions["sample"] += 1
        else:
            self.versions["train"] += 1

    def _apply(self, event: object) -> None:
        if isinstance(event, StepEvent):
            self.last_step = event
            self.steps += 1
            _push(self.train_loss, (event.step, event.loss))
            _push(self.grad_norm, event.grad_norm)
            _push(self.clipped, event.clipped)
            for name, value in (event.param_grad_norms or {}).items():
                _push(self.param_norms.setdefault(name, []), value)
        elif isinstance(event, StartEvent):
            self.start = event
            for note in event.notes:
                self.log.append((f"note: {note}", "dim"))
        elif isinstance(event, EvalEvent):
            if event.val is not None:
                self.val_loss.append((event.step, event.val.loss))
                self.val_bpc = event.val.bpc
            self.log.append(
                (
                    f"step {event.step}: eval train {fmt(event.train_loss)} val "
                    f"{fmt(event.val.loss if event.val else None)} bpc {fmt(self.val_bpc)}"
                    + (" best" if event.best else ""),
                    "green" if event.best else "",
                )
            )
        elif isinstance(event, ProbeEvent):
            self.probe = event
            if self.first_probe is None:
                self.first_probe = event
        elif isinstance(event, PreviewEvent):
            self.preview = event
        elif isinstance(event, SavedEvent):
            self.log.append((f"step {event.step}: saved {event.path}", "cyan"))
        elif isinstance(event, ReplanEvent):
            self.log.append((f"step {event.step}: plan: {event.message}", "yellow"))
        elif isinstance(event, AlarmEvent):
            self.alarm = event
            self.log.append((f"ALARM {event.message}", "bold red"))
        elif isinstance(event, PausedEvent):
            self.paused = event.paused
            self.log.append((f"step {event.step}: {'paused' if event.paused else 'resumed'}", "yellow"))
        elif isinstance(event, DoneEvent):
            self.done = event
            self.paused = False
            what = {"budget": "finished", "stopped": "stopped", "diverged": "diverged"}.get(event.reason, event.reason)
            self.log.append((f"step {event.step}: {what}; checkpoint {event.out}", "bold"))
        elif isinstance(event, ErrorEvent):
            self.error = event.message
            self.log.append((f"error: {event.message}", "bold red"))
        if len(self.log) > 400:
            del self.log[:-200]


@dataclass
class ErrorEvent:
    message: str


def _push(values: list, item) -> None:
    """Append, halving the resolution when the history gets long (keeps redraws cheap)."""
    values.append(item)
    if len(values) > MAX_POINTS:
        del values[1::2]
