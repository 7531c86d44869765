"""``rnngen compare``: train several cells on the same corpus with the same budget and put
their loss curves and gradient-through-time profiles side by side (no UI code here).

The lesson it demonstrates on the user's own text: a plain RNN's gradient vanishes as
it flows back through time, LSTM and GRU keep it. Every cell is measured on the same
validation window (the start of the validation text) with ``rnngen.probes``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from rnngen.checkpoint import is_rnngen_checkpoint
from rnngen.checkpoint_lock import lock_checkpoint
from rnngen.corpus import Corpus
from rnngen.errors import RnngenError, setting
from rnngen.live import LiveSession, ProbeEvent
from rnngen.model import CELLS
from rnngen.probe_stats import describe_decay_ratio
from rnngen.sparkline import mean, sparkline
from rnngen.training import DoneEvent, EvalEvent, StepEvent, TrainConfig, Trainer


def parse_models(spec: str) -> list[str]:
    cells = [part.strip().lower() for part in spec.split(",") if part.strip()]
    if not cells:
        raise RnngenError(f"{setting('models')} needs at least one of rnn, lstm, gru")
    for cell in cells:
        if cell not in CELLS:
            raise RnngenError(f"{setting('models')}: unknown cell {cell!r}; choose from rnn, lstm, gru")
    if len(set(cells)) != len(cells):
        raise RnngenError(f"{setting('models')} lists a cell twice")
    return cells


@dataclass
class CellResult:
    cell: str
    parameters: int
    steps: int
    seconds: float
    val_loss: float | None
    val_bpc: float | None
    decay_ratio: float | None  # ||dL/dh_1|| / ||dL/dh_T||, top layer, on the shared validation window
    profile: list[float]  # top layer ||dL/dh_t||, t = 1..T
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, train loss), thinned
    val_curve: list[tuple[int, float]] = field(default_factory=list)
    out: Path | None = None
    reason: str = "budget"

    def to_json(self) -> dict:
        def finite(x):
            return x if x is not None and math.isfinite(x) else None

        return {
            "cell": self.cell,
            "parameters": self.parameters,
            "steps": self.steps,
            "seconds": round(self.seconds, 2),
            "val_loss": finite(self.val_loss),
            "val_bpc": finite(self.val_bpc),
            "grad_decay_ratio": finite(self.decay_ratio),
            "grad_profile": [float(v) for v in self.profile],
            "train_curve": [[s, round(v, 5)] for s, v in self.curve],
            "val_curve": [[s, round(v, 5)] for s, v in self.val_curve],
            "checkpoint": str(self.out) if self.out else None,
            "reason": self.reason,
        }


def cell_configs(base: TrainConfig, cells: list[str]) -> list[TrainConfig]:
    """The same options for every cell; a --time budget is split evenly between them."""
    budgets = [n for n in ("steps", "epochs", "time_s") if getattr(base, n) is not None]
    if len(budgets) > 1:
        raise RnngenError(f"give one budget: {setting('steps')} or {setting('time')}")
    if not budgets:
        raise RnngenError(f"give a budget: {setting('steps')} or {setting('time')}")
    per_cell = base.time_s / len(cells) if base.time_s is not None else None
    return [replace(base, cell=cell, time_s=per_cell) for cell in cells]


def compare_out(out_dir: Path, cell: str) -> Path:
    out = out_dir / f"{cell}.safetensors"
    # compare's own files from an earlier run are replaced; anything else is refused by the Trainer.
    if out.is_file() and is_rnngen_checkpoint(out):
        with lock_checkpoint(out):  # never delete a file that another run is writing
            out.unlink()
            best = out.with_name(f"{cell}.best.safetensors")
            if best.is_file() and is_rnngen_checkpoint(best):
                best.unlink()
    return out


CompareCallback = Callable[[str, object], None]


def build_trainers(base: TrainConfig, corpus: Corpus, cells: list[str], out_dir: Path) -> list[Trainer]:
    """Every trainer is built (and every option checked) before the first one trains."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [Trainer(cfg, corpus, out=compare_out(out_dir, cfg.cell)) for cfg in cell_configs(base, cells)]


def run_comparison(
    trainers: list[Trainer],
    *,
    callback: CompareCallback | None = None,
    stop: threading.Event | None = None,
    probe_len: int = 96,
    probe_every_s: float = 2.0,
) -> list[CellResult]:
    """Train each cell in turn; ``callback(cell, event)`` sees every event of every run."""
    callback = callback or (lambda cell, event: None)
    stop = stop or threading.Event()
    results = []
    for trainer in trainers:
        if stop.is_set():
            break
        cell = trainer.config.cell
        curve: list[tuple[int, float]] = []
        val_curve: list[tuple[int, float]] = []
        last_probe: list[ProbeEvent] = []

        def on_event(event, cell=cell, curve=curve, val_curve=val_curve, last_probe=last_probe):
            if isinstance(event, StepEvent):
                curve.append((event.step, event.loss))
                if len(curve) > 2048:
                    del curve[1::2]
            elif isinstance(event, EvalEvent) and event.val is not None:
                val_curve.append((event.step, event.val.loss))
            elif isinstance(event, ProbeEvent):
                last_probe[:] = [event]
            callback(cell, event)

        session = LiveSession(trainer, on_event, probe_every_s=probe_every_s, probe_len=probe_len, preview_len=0)
        watcher = threading.Thread(target=_forward_stop, args=(stop, session), daemon=True)
        watcher.start()
        done: DoneEvent = session.run()
        probe = last_probe[0]  # run() probes once more after the last step
        results.append(
            CellResult(
                cell=cell,
                parameters=trainer.model.num_parameters(),
                steps=done.step,
                seconds=trainer.elapsed_s,
                val_loss=done.val.loss if done.val else None,
                val_bpc=done.val.bpc if done.val else None,
                decay_ratio=probe.decay_ratio,
                profile=probe.grad_norms[-1],
                curve=curve,
                val_curve=val_curve,
                out=done.out,
                reason=done.reason,
            )
        )
    return results


def _forward_stop(stop: threading.Event, session: LiveSession) -> None:
    while not session.finished.is_set():
        if stop.wait(0.1):
            session.stop()
            return


# ---- text report ------------------------------------------------------------------------


def fmt_ratio(value: float | None) -> str:
    """A decay ratio in the report's number format."""
    return describe_decay_ratio(value, lambda r: f"{r:.1e}" if r < 0.01 or r >= 1000 else f"{r:.3f}", missing="-")


def text_report(results: list[CellResult], width: int = 48) -> str:
    def f(v, d=4):
        return "-" if v is None or not math.isfinite(v) else f"{v:.{d}f}"

    lines = [
        f"{'cell':<5} {'params':>9} {'steps':>7} {'val loss':>9} {'val bpc':>8}  grad decay ||dL/dh_1||/||dL/dh_T||"
    ]
    for r in results:
        lines.append(
            f"{r.cell:<5} {r.parameters:>9,} {r.steps:>7} {f(r.val_loss):>9} {f(r.val_bpc):>8}  "
            f"{fmt_ratio(r.decay_ratio)}" + ("" if r.reason == "budget" else f"  ({r.reason})")
        )
    if results:
        T = len(results[0].profile)
        finite = [math.log10(v) for r in results for v in r.profile if v > 0 and math.isfinite(v)]
        lo, hi = (min(finite), max(finite)) if finite else (None, None)
        axis = f" 1e{math.floor(lo)}..1e{math.ceil(hi)}" if lo is not None and hi is not None else ""
        lines.append("")
        lines.append(f"gradient through time on the same {T}-token validation window (log scale, shared axis{axis}):")
        lines.append(f"{'':5}  t=1 (oldest){'':>{max(1, width - 22)}}t=T")
        for r in results:
            lines.append(f"{r.cell:<5} |{sparkline(r.profile, width, log=True, how=mean, lo=lo, hi=hi)}|")
    return "\n".join(lines)
