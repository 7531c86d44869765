"""The plain CLI's view of training: a rich progress bar plus one log line per evaluation on a
terminal; in a file or pipe, or with ``NO_COLOR`` / ``TERM=dumb``, plain lines only (one per
evaluation, no colour, no redrawn bar).

Verbosity: ``QUIET`` shows only alarms (and what the CLI prints itself: errors, the result);
``VERBOSE`` adds the planner's choices in full and, per evaluation, the gradient norms,
learning rate and speed since the last one.
"""

from __future__ import annotations

import math
import sys

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.text import Text

from rnngen.terminal_text import plain_text, visible_controls
from rnngen.training import (
    AlarmEvent,
    DoneEvent,
    EvalEvent,
    ReplanEvent,
    SavedEvent,
    StartEvent,
    StepEvent,
    TrainEvent,
)

QUIET, NORMAL, VERBOSE = -1, 0, 1

# A message: plain strings and (string, rich style) pairs; the style is dropped in plain text.
Part = str | tuple[str, str]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class _SinceEval:
    """What the steps since the last evaluation did, for its log line."""

    def __init__(self) -> None:
        self.steps = self.clipped = 0
        self.grad_sum = self.grad_max = self.rate_sum = 0.0
        self.last: StepEvent | None = None

    def add(self, event: StepEvent) -> None:
        self.steps += 1
        self.clipped += int(event.clipped)
        if math.isfinite(event.grad_norm):
            self.grad_sum += event.grad_norm
            self.grad_max = max(self.grad_max, event.grad_norm)
        self.rate_sum += event.tokens_per_s
        self.last = event


class TrainingProgress:
    """Renders TrainEvents on stderr; on a terminal the bar refreshes at most ~8 times a second.

    ``console``: print there instead (the CLI passes a silent one to the ranks of a
    multi-process run); ``verbosity``: ``QUIET``, ``NORMAL`` or ``VERBOSE``.
    """

    def __init__(self, console: Console | None = None, *, verbosity: int = NORMAL):
        self.plain = console is None and plain_text(sys.stderr)
        # Plain: no colour or styles at all, and no wrapping at 80 columns in a log file.
        self.console = console or (
            Console(stderr=True, color_system=None, highlight=False, soft_wrap=True)
            if self.plain
            else Console(stderr=True)
        )
        self.verbosity = verbosity
        self.progress = None if self.plain or verbosity <= QUIET else self._bar()
        self.task: TaskID | None = None
        self.val = "-"
        self.val_bpc = "-"
        self.since = _SinceEval()

    def _bar(self) -> Progress:
        return Progress(
            TextColumn("step {task.fields[step]}"),
            BarColumn(bar_width=24),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[rate]} tok/s"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("val {task.fields[val]}"),
            TextColumn("bpc {task.fields[bpc]}"),
            TextColumn("|g| {task.fields[grad]}"),
            TextColumn("left {task.fields[left]}"),
            console=self.console,
            refresh_per_second=8,
            transient=False,
        )

    def __enter__(self) -> TrainingProgress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def say(self, *parts: Part, level: int = QUIET) -> None:
        """Print a line made of ``parts`` if the verbosity lets ``level`` through (the default,
        ``QUIET``, always shows: the stop notice on Ctrl-C uses it)."""
        if self.verbosity < level:
            return
        text = Text()
        for part in parts:
            piece, style = (part, "") if isinstance(part, str) else part
            # Paths and names come from the user: on a terminal their control characters are shown.
            text.append(piece if self.plain else visible_controls(piece), style=None if self.plain else style or None)
        self.console.print(text if self.plain else self.console.highlighter(text))

    def handle(self, event: TrainEvent) -> None:
        if isinstance(event, StartEvent):
            self._start(event)
        elif isinstance(event, StepEvent):
            self.since.add(event)
            if self.progress is not None and self.task is not None:
                self.progress.update(
                    self.task,
                    completed=int(event.progress * 1000),
                    step=event.step,
                    rate=f"{event.tokens_per_s:,.0f}",
                    loss=_fmt(event.loss),
                    val=self.val,
                    bpc=self.val_bpc,
                    grad=_fmt(event.grad_norm, 2),
                    left=_duration(event.eta_s),
                )
        elif isinstance(event, EvalEvent):
            self._evaluated(event)
        elif isinstance(event, AlarmEvent):
            self.say(("alarm:", "bold red"), f" {event.message}")
        elif isinstance(event, ReplanEvent):
            self.say(f"plan: {event.message}", level=NORMAL)
        elif isinstance(event, SavedEvent):
            pass
        elif isinstance(event, DoneEvent) and self.progress is not None and self.task is not None:
            self.progress.update(self.task, step=event.step)

    def _start(self, event: StartEvent) -> None:
        m = event.model_config
        budget = (
            f"{event.total_steps} steps"
            if event.total_steps is not None
            else f"{_duration(event.time_budget_s)} of training"
        )
        self.say(
            (m.label, "bold"),
            f" embed {m.embed}, {event.parameters:,} parameters, "
            f"{event.config.level} vocab {event.vocab_size}; {event.train_tokens:,} train / "
            f"{event.val_tokens:,} val tokens; batch {event.config.batch_size} x seq {event.config.seq_len}; "
            f"{budget}" + (f", from step {event.start_step}" if event.start_step else ""),
            level=NORMAL,
        )
        if event.plan:
            self.say(f"plan: {event.plan}", level=NORMAL)
        self._plan_in_full(event)
        for note in event.notes:
            self.say(f"note: {note}", level=NORMAL)
        self.say(f"checkpoint: {event.out}", level=NORMAL)
        if self.progress is not None:
            self.task = self.progress.add_task(
                "train", total=1000, step=event.start_step, rate="-", loss="-", val="-", bpc="-", grad="-", left="?"
            )

    def _plan_in_full(self, event: StartEvent) -> None:
        """--verbose: every setting the planner chose (not given), the speeds it measured, then the whole config."""
        details = event.plan_details or {}
        config = event.config.to_json()
        chosen = [f"{name} {config[name]}" for name in details.get("chosen", []) if config.get(name) is not None]
        if chosen:
            self.say("plan: chose " + ", ".join(chosen) + " (not given on the command line)", level=VERBOSE)
        measured = details.get("measured") or {}
        if measured:
            speeds = ", ".join(f"{shape} {rate:,} tok/s" for shape, rate in measured.items())
            self.say(
                f"plan: measured {speeds} in {details.get('seconds', 0):g} s (counted inside --time)", level=VERBOSE
            )
        settings = ", ".join(f"{name} {value}" for name, value in config.items() if value is not None)
        self.say(f"settings: {settings}", level=VERBOSE)

    def _evaluated(self, event: EvalEvent) -> None:
        if event.val is not None:
            self.val, self.val_bpc = _fmt(event.val.loss), _fmt(event.val.bpc)
            if self.progress is not None and self.task is not None:
                self.progress.update(self.task, val=self.val, bpc=self.val_bpc)
        since, last = self.since, self.since.last
        parts: list[Part] = [
            f"step {event.step:>6}  train {_fmt(event.train_loss)}  val {self.val}  val bpc {self.val_bpc}"
            f"  clipped {since.clipped / max(since.steps, 1):.0%} of steps"
        ]
        if self.progress is None and last is not None:  # no bar: the line says how far the run is
            parts.append(f"  {last.progress:.0%} done, left {_duration(last.eta_s)}")
        if self.verbosity >= VERBOSE and last is not None:
            parts.append(
                f"  |g| mean {since.grad_sum / since.steps:.3g} max {since.grad_max:.3g}"
                f"  lr {last.lr:.3g}  {since.rate_sum / since.steps:,.0f} tok/s"
            )
        if event.best:
            parts.append(("  best", "green"))
        self.say(*parts, level=NORMAL)
        self.since = _SinceEval()
