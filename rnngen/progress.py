"""The plain CLI's view of training: a rich progress bar plus one log line per evaluation."""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from rnngen.training import (
    AlarmEvent,
    DoneEvent,
    EvalEvent,
    SavedEvent,
    StartEvent,
    StepEvent,
    TrainEvent,
)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainingProgress:
    """Renders TrainEvents on stderr; refreshes the bar at most ~8 times a second."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
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
        self.task: TaskID | None = None
        self.val = "-"
        self.val_bpc = "-"
        self.clip_count = 0
        self.steps_seen = 0

    def __enter__(self) -> TrainingProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def say(self, message: str) -> None:
        self.console.print(message)

    def handle(self, event: TrainEvent) -> None:
        if isinstance(event, StartEvent):
            m = event.model_config
            budget = (
                f"{event.total_steps} steps"
                if event.total_steps is not None
                else f"{_duration(event.time_budget_s)} of training"
            )
            self.say(
                f"[bold]{m.label}[/] embed {m.embed}, {event.parameters:,} parameters, "
                f"{event.config.level} vocab {event.vocab_size}; {event.train_tokens:,} train / "
                f"{event.val_tokens:,} val tokens; batch {event.config.batch_size} x seq {event.config.seq_len}; "
                f"{budget}" + (f", from step {event.start_step}" if event.start_step else "")
            )
            if event.plan:
                self.say(f"plan: {event.plan}")
            for note in event.notes:
                self.say(f"note: {note}")
            self.say(f"checkpoint: {event.out}")
            self.task = self.progress.add_task(
                "train", total=1000, step=event.start_step, rate="-", loss="-", val="-", bpc="-", grad="-", left="?"
            )
        elif isinstance(event, StepEvent) and self.task is not None:
            self.steps_seen += 1
            self.clip_count += int(event.clipped)
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
            if event.val is not None:
                self.val, self.val_bpc = _fmt(event.val.loss), _fmt(event.val.bpc)
                if self.task is not None:
                    self.progress.update(self.task, val=self.val, bpc=self.val_bpc)
            clip_share = self.clip_count / max(self.steps_seen, 1)
            self.say(
                f"step {event.step:>6}  train {_fmt(event.train_loss)}  val {self.val}  val bpc {self.val_bpc}"
                f"  clipped {clip_share:.0%} of steps" + ("  [green]best[/]" if event.best else "")
            )
            self.clip_count = self.steps_seen = 0
        elif isinstance(event, AlarmEvent):
            self.say(f"[bold red]alarm:[/] {event.message}")
        elif isinstance(event, SavedEvent):
            pass
        elif isinstance(event, DoneEvent) and self.task is not None:
            self.progress.update(self.task, step=event.step)
