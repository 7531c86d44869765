"""What the training dashboard costs: tokens/s of the same training with and without it,
and how often the dashboard actually redraws.

    python benchmarks/bench_dashboard.py [--steps 300] [--hidden 128] [--repeats 3] [--threads 1]
        [--switch-intervals 0.0005,0.005]

``--switch-intervals``: the GIL switch interval(s) the dashboard sets while it is open
(rnngen's default first; Python's own is 0.005 s); each repeat runs plain, then the
dashboard once per interval, so every ratio has its own plain run beside it.

"plain" is the Trainer driven by the plain CLI's renderer (rnngen.progress, a rich
progress bar written to an in-memory terminal); "dashboard" is the same Trainer in a
``LiveSession`` inside the Textual dashboard, run headless (``App.run_test``) at 120x40,
with its default probe interval (gradient through time every 3 s) and a preview sample at
every evaluation. Both run the same steps, evaluations and checkpoints; runs alternate
(plain, dashboard, plain, ...) and the medians are compared. Throughput is wall-clock:
tokens trained / seconds from the first step to the end, so everything the dashboard adds
(probes, previews, the UI thread competing for the GIL and the cores) counts.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from rich.console import Console

from rnngen.corpus import Corpus
from rnngen.progress import TrainingProgress
from rnngen.training import DoneEvent, StepEvent, TrainConfig, Trainer
from rnngen.tui import dashboard as dashboard_module
from rnngen.tui.dashboard import TrainingDashboard
from rnngen.tui.launch import build_session
from machine import machine_line  # noqa: E402  (benchmarks/ is on sys.path)


def corpus() -> Corpus:
    here = Path(__file__).resolve().parent.parent
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((here / "rnngen").glob("*.py")))
    return Corpus(text=text * 2, name="rnngen-source", sources=())


class Clock:
    """Wall time from the first step to the end, and tokens trained in between."""

    def __init__(self, tokens_per_step: int):
        self.tokens_per_step = tokens_per_step
        self.t_first = None
        self.t_done = None
        self.steps = 0
        self.rates: list[float] = []

    def __call__(self, event) -> None:
        if isinstance(event, StepEvent):
            if self.t_first is None:
                self.t_first = time.perf_counter()
            self.steps += 1
            self.rates.append(event.tokens_per_s)
        elif isinstance(event, DoneEvent):
            self.t_done = time.perf_counter()

    def tokens_per_s(self) -> float:
        return (self.steps - 1) * self.tokens_per_step / (self.t_done - self.t_first)


def run_plain(config: TrainConfig, text: Corpus, folder: Path) -> Clock:
    out = folder / f"plain-{time.monotonic_ns()}.safetensors"
    progress = TrainingProgress(Console(file=io.StringIO(), force_terminal=True, width=120))
    trainer = Trainer(config, text, out=out)
    clock = Clock(trainer.layout.batch_size * trainer.layout.seq_len)

    def callback(event):
        clock(event)
        progress.handle(event)

    trainer.callback = callback
    with progress:
        trainer.run()
    return clock


def thread_cpu_seconds(tid: int) -> float:
    """CPU time (user + system) a thread of this process has used so far (Linux)."""
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_dashboard(config: TrainConfig, text: Corpus, folder: Path):
    out = folder / f"dash-{time.monotonic_ns()}.safetensors"
    session = build_session(config, text, out=out)
    clock = Clock(session.trainer.layout.batch_size * session.trainer.layout.seq_len)
    app = TrainingDashboard(session)
    feed = app.queue.append

    def callback(event):  # the dashboard's own callback, timed
        clock(event)
        feed(event)

    session.callback = callback

    ui_cpu = []

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            tid = threading.get_native_id()
            cpu0, t0 = thread_cpu_seconds(tid), time.perf_counter()
            while not session.finished.is_set():
                await pilot.pause(0.05)
            ui_cpu.append((thread_cpu_seconds(tid) - cpu0) / (time.perf_counter() - t0))
            await pilot.pause(0.3)
            await pilot.press("q")

    asyncio.run(scenario())
    def rate(times):
        times = [t for t in times if clock.t_first <= t <= clock.t_done]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0

    hooks = (session.probe_seconds + session.preview_seconds) / (clock.t_done - clock.t_first)
    return clock, rate(app.ticks), rate(app.frames), hooks, ui_cpu[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--switch-intervals", default=f"{dashboard_module.UI_SWITCH_INTERVAL_S},0.005")
    args = ap.parse_args()
    intervals = [float(x) for x in args.switch_intervals.split(",")]
    torch.set_num_threads(args.threads)
    config = TrainConfig(cell="lstm", hidden=args.hidden, layers=args.layers, seq_len=args.seq_len,
                         batch_size=args.batch_size, steps=args.steps, threads=args.threads, seed=1,
                         precision="fp32")
    text = corpus()
    plain: list[float] = []
    runs: dict[float, dict[str, list[float]]] = {
        iv: {"dash": [], "ratio": [], "hz": [], "fresh": [], "hooks": [], "ui": []} for iv in intervals}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        run_plain(TrainConfig(**{**config.__dict__, "steps": 20}), text, folder)  # warm-up
        for i in range(args.repeats):
            plain.append(run_plain(config, text, folder).tokens_per_s())
            for iv in intervals:
                dashboard_module.UI_SWITCH_INTERVAL_S = iv
                d, rate, new, hook_share, ui_share = run_dashboard(config, text, folder)
                r = runs[iv]
                r["dash"].append(d.tokens_per_s())
                r["ratio"].append(r["dash"][-1] / plain[-1])
                r["hz"].append(rate)
                r["fresh"].append(new)
                r["hooks"].append(hook_share)
                r["ui"].append(ui_share)
                print(f"run {i + 1}: plain {plain[-1]:,.0f} tok/s   dashboard (switch {iv * 1000:g} ms) "
                      f"{r['dash'][-1]:,.0f} tok/s   ratio {r['ratio'][-1]:.3f}   refresh {rate:.1f}/s "
                      f"({new:.1f}/s with new data)   probes+previews {hook_share:.1%} of the run   "
                      f"UI thread CPU {ui_share:.1%} of a core", flush=True)
    med = statistics.median
    print(f"\nLSTM {args.layers}x{args.hidden}, batch {args.batch_size} x seq {args.seq_len}, {args.steps} steps, "
          f"threads {args.threads}, {args.repeats} alternating runs (medians)")
    print(f"plain CLI   {med(plain):,.0f} tok/s")
    for iv, r in runs.items():
        pair = med(r["ratio"])
        print(f"dashboard, GIL switch interval {iv * 1000:g} ms: {med(r['dash']):,.0f} tok/s, ratio {pair:.3f} "
              f"(median of per-pair ratios; slowdown {100 * (1 - pair):.1f}%); refresh {med(r['hz']):.1f}/s "
              f"(min {min(r['hz']):.1f}/s, {med(r['fresh']):.1f}/s with new data); probes + previews "
              f"{med(r['hooks']):.1%} of the run; UI thread {med(r['ui']):.1%} of a core")
    print(f"machine     {machine_line()}")


if __name__ == "__main__":
    sys.exit(main())
