"""Metrics out of a training run: JSON lines, TensorBoard, and loss-curve charts.

Writers wrap the trainer's event callback (``attach_metrics``), so the CLI, the API and
the TUI all log the same way. No UI imports here: the terminal chart is plain text.

JSONL: one object per training step, written as the step completes and flushed at once
(so ``tail -f`` and ``rnngen plot`` work on a live run)::

    {"step": 120, "elapsed_s": 3.52, "loss": 1.734, "bpc": 2.502, "grad_norm": 0.61,
     "clipped": false, "lr": 0.0029, "tokens_per_s": 58121.0,
     "val_loss": 1.802, "val_bpc": 2.6}          <- val_* only on steps that evaluated

A step whose update was skipped (NaN/Inf) is logged as ``{"step": n, "alarm": "..."}``; a
change of plan during the run (the dropout re-check) as ``{"step": n, "plan": "..."}``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

from rnngen.errors import RnngenError, setting


def _num(value):
    """JSON has no NaN/Inf: write them as null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class JsonlWriter:
    """One JSON object per step; a step that evaluated also carries val_loss and val_bpc.

    The log is never truncated: a resumed run (``append``) adds to it, and a fresh run
    refuses a log that already holds something (it may be another run's history).
    """

    def __init__(self, path: Path, *, append: bool = False):
        self.path = Path(path)
        try:
            if self.path.parent != Path(""):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # Opened for appending even on a fresh run, so nothing can be cut between the
            # check below and the open. Open for the whole run; close() closes it.
            self.handle = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        except OSError as exc:
            raise RnngenError(f"cannot write {setting('log_jsonl')} {self.path}: {exc.strerror or exc}") from None
        if not append and os.fstat(self.handle.fileno()).st_size > 0:
            self.handle.close()
            raise RnngenError(
                f"{setting('log_jsonl')} {self.path} already holds a log; give another path or remove it "
                f"(a resumed run appends to its log)"
            )
        self.pending: dict | None = None

    def handle_event(self, event) -> None:
        from rnngen.training import AlarmEvent, DoneEvent, EvalEvent, ReplanEvent, StepEvent

        if isinstance(event, StepEvent):
            self._flush()
            self.pending = {
                "step": event.step,
                "elapsed_s": round(event.elapsed_s, 3),
                "loss": _num(event.loss),
                "bpc": _num(event.bpc),
                "grad_norm": _num(event.grad_norm),
                "clipped": bool(event.clipped),
                "lr": _num(event.lr),
                "tokens_per_s": _num(round(event.tokens_per_s, 1)),
            }
        elif isinstance(event, EvalEvent):
            val = event.val
            fields = {"val_loss": _num(val.loss) if val else None, "val_bpc": _num(val.bpc) if val else None}
            if self.pending is not None and self.pending["step"] == event.step:
                self.pending.update(fields)
                self._flush()
            else:
                self._flush()
                self._write({"step": event.step, **fields})
        elif isinstance(event, AlarmEvent):
            self._flush()
            self._write({"step": event.step, "alarm": event.message})
        elif isinstance(event, ReplanEvent):
            self._flush()
            self._write({"step": event.step, "plan": event.message})
        elif isinstance(event, DoneEvent):
            self._flush()

    def _flush(self) -> None:
        if self.pending is not None:
            self._write(self.pending)
            self.pending = None

    def _write(self, record: dict) -> None:
        self.handle.write(json.dumps(record) + "\n")

    def bind(self, trainer) -> None:
        pass

    def close(self) -> None:
        self._flush()
        self.handle.close()


class TensorBoardWriter:
    """Scalars every step, gradient histograms every ``histogram_every`` steps."""

    def __init__(self, logdir: Path, *, histogram_every: int = 50):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise RnngenError(
                f"{setting('tensorboard')} needs the tensorboard package: pip install 'rnngen[tensorboard]'"
            ) from None
        self.writer = SummaryWriter(log_dir=str(logdir))
        self.histogram_every = max(1, histogram_every)

    def handle_event(self, event) -> None:
        from rnngen.training import EvalEvent, StepEvent

        w = self.writer
        if isinstance(event, StepEvent):
            for name in ("loss", "bpc", "grad_norm", "lr", "tokens_per_s"):
                value = _num(getattr(event, name))
                if value is not None:
                    w.add_scalar(f"train/{name}", value, event.step)
        elif isinstance(event, EvalEvent) and event.val is not None:
            w.add_scalar("val/loss", event.val.loss, event.step)
            w.add_scalar("val/bpc", event.val.bpc, event.step)

    def bind(self, trainer) -> None:
        trainer.between_steps.append(self._histograms)

    def _histograms(self, trainer) -> None:
        if trainer.step != 1 and trainer.step % self.histogram_every:
            return
        for name, p in trainer.model.named_parameters():
            if p.grad is not None and torch_isfinite(p.grad):
                self.writer.add_histogram(f"grad/{name}", p.grad.detach().float().cpu(), trainer.step)
                self.writer.add_histogram(f"weight/{name}", p.detach().float().cpu(), trainer.step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def torch_isfinite(t) -> bool:
    import torch

    return bool(torch.isfinite(t).all())


def attach_metrics(
    callback: Callable | None,
    *,
    log_jsonl: Path | None = None,
    tensorboard: Path | None = None,
    append: bool = False,
) -> tuple[Callable | None, list]:
    """Wrap ``callback`` so that events also reach the requested writers.

    Returns (callback, writers); call ``writer.bind(trainer)`` once the trainer exists
    and ``writer.close()`` when training ends. A resumed run appends to the JSONL file; a
    fresh run refuses one that is not empty.
    """
    writers: list = []
    if log_jsonl is not None:
        writers.append(JsonlWriter(log_jsonl, append=append))
    if tensorboard is not None:
        try:
            writers.append(TensorBoardWriter(tensorboard))
        except BaseException:
            for w in writers:
                w.close()
            raise
    if not writers:
        return callback, []

    def fan_out(event) -> None:
        if callback is not None:
            callback(event)
        for w in writers:
            w.handle_event(event)

    return fan_out, writers


# ---- reading logs and drawing curves ----------------------------------------------------


def read_log(path: Path) -> list[dict]:
    """Records of a JSONL metrics log; a torn last line (a run still writing) is ignored."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise RnngenError(f"log {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RnngenError(f"cannot read log {path}: {exc}") from None
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                break
            raise RnngenError(f"{path}:{n} is not a JSON line (is this an rnngen --log-jsonl file?)") from None
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    if not records:
        raise RnngenError(f"{path} holds no logged steps")
    return records


def series(records: list[dict], metric: str = "loss") -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train points, val points) as (step, value) for ``metric`` "loss" or "bpc"."""
    train_key, val_key = ("loss", "val_loss") if metric == "loss" else ("bpc", "val_bpc")
    train = [(r["step"], float(r[train_key])) for r in records if isinstance(r.get(train_key), (int, float))]
    val = [(r["step"], float(r[val_key])) for r in records if isinstance(r.get(val_key), (int, float))]
    return train, val


def render_chart(
    train: list[tuple[int, float]],
    val: list[tuple[int, float]],
    *,
    width: int = 72,
    height: int = 16,
    label: str = "loss",
) -> list[str]:
    """A plain-text chart: train as '·' (mean per column), val as '●'. Returns the lines."""
    points = train + val
    if not points:
        return ["(nothing to plot)"]
    width, height = max(width, 20), max(height, 4)
    gutter = 9
    cols = width - gutter - 1
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    ys = [p[1] for p in points]
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    span_x = max(x1 - x0, 1)

    def col(step: int) -> int:
        return min(cols - 1, int((step - x0) / span_x * (cols - 1) + 0.5))

    def row(value: float) -> int:
        return min(height - 1, int((y1 - value) / (y1 - y0) * (height - 1) + 0.5))

    grid = [[" "] * cols for _ in range(height)]
    buckets: dict[int, list[float]] = {}
    for step, value in train:
        buckets.setdefault(col(step), []).append(value)
    for c, values in buckets.items():
        grid[row(sum(values) / len(values))][c] = "·"
    for step, value in val:
        grid[row(value)][col(step)] = "●"
    lines = []
    for r in range(height):
        value = y1 - (y1 - y0) * r / (height - 1)
        tick = f"{value:8.3f} " if r in (0, height // 2, height - 1) else " " * gutter
        lines.append(tick + "│" + "".join(grid[r]).rstrip())
    lines.append(" " * gutter + "└" + "─" * cols)
    left, right = str(x0), str(x1)
    lines.append(" " * (gutter + 1) + left + " " * max(1, cols - len(left) - len(right)) + right)
    legend = f"{' ' * (gutter + 1)}step    · train {label}"
    if val:
        legend += f"   ● val {label}"
    lines.append(legend)
    return lines


def summary(records: list[dict]) -> str:
    train, val = series(records)
    parts = [f"{len(train)} steps logged, last step {records[-1]['step']}"]
    if train:
        parts.append(f"last train loss {train[-1][1]:.4f}")
    if val:
        best = min(val, key=lambda p: p[1])
        parts.append(f"best val loss {best[1]:.4f} at step {best[0]}")
    return "; ".join(parts)


def plot_png(records: list[dict], out: Path, *, metric: str = "loss", title: str | None = None) -> Path:
    """Draw the curves to a PNG with matplotlib (the ``plot`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RnngenError(f"{setting('png')} needs matplotlib: pip install 'rnngen[plot]'") from None
    train, val = series(records, metric)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    if train:
        steps, values = zip(*train)
        ax.plot(steps, values, lw=0.8, alpha=0.35, color="tab:blue")
        k = max(1, len(values) // 50)
        smooth = [
            sum(values[max(0, i - k + 1) : i + 1]) / len(values[max(0, i - k + 1) : i + 1]) for i in range(len(values))
        ]
        ax.plot(steps, smooth, lw=1.6, color="tab:blue", label=f"train {metric}")
    if val:
        steps, values = zip(*val)
        ax.plot(steps, values, "o-", ms=4, color="tab:orange", label=f"val {metric}")
    ax.set_xlabel("step")
    ax.set_ylabel("nats/token" if metric == "loss" else "bits/char")
    ax.set_title(title or "rnngen training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(out)
    except OSError as exc:
        raise RnngenError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return Path(out)
