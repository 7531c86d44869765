"""Entry point for ``rnngen train CORPUS --tui``: build the trainer, then open the dashboard.

The ``Trainer`` is built before the terminal switches to the dashboard, so a bad option or
a bad corpus still gives the one-line error and non-zero exit of the plain CLI.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from rnngen.corpus import Corpus
from rnngen.live import LiveSession
from rnngen.training import TrainConfig, Trainer


def build_session(
    config: TrainConfig,
    corpus: Corpus,
    *,
    out: Path | None = None,
    resume: Path | None = None,
    explicit: set[str] | None = None,
    **session_options,
) -> LiveSession:
    trainer = Trainer(config, corpus, out=out, resume=resume, explicit=explicit)
    return LiveSession(trainer, **session_options)


def run_training_dashboard(
    config: TrainConfig,
    corpus: Corpus,
    *,
    out: Path | None = None,
    resume: Path | None = None,
    explicit: set[str] | None = None,
) -> int:
    """Train in the dashboard; returns the exit code (0 after ``q``, 3 if training diverged).

    Unless --threads is given, training leaves one core to the interface: when the UI
    thread preempts one of torch's OpenMP threads, the other waits at every time step's
    barrier, and training ran 5x slower on a 2-core machine (benchmarks/README.md).
    """
    if config.threads is None:
        config = replace(config, threads=max(1, (os.cpu_count() or 1) - 1))
        explicit = set(explicit or ()) | {"threads"}
    session = build_session(config, corpus, out=out, resume=resume, explicit=explicit)
    from rnngen.tui.dashboard import TrainingDashboard

    app = TrainingDashboard(session)
    app.run()
    if session.running:  # the app ended with training still running: stop it and let it save
        session.stop()
        session.finished.wait(timeout=120)
    done = session.done
    if done is not None:
        print(f"checkpoint: {done.out}")
        if done.reason == "diverged":
            import sys

            print(
                f"error: training diverged at step {done.step + 1}; last good checkpoint: {done.out}", file=sys.stderr
            )
    return app.return_code if app.return_code is not None else app.exit_code_for_state()


def run_compare_dashboard(trainers: list[Trainer], *, probe_len: int = 96) -> int:
    """``rnngen compare --tui``: trainers are built (and checked) by the caller."""
    from rnngen.compare import text_report
    from rnngen.tui.compare_view import CompareDashboard

    app = CompareDashboard(trainers, probe_len=probe_len)
    app.run()
    app.stop.set()
    app.finished.wait(timeout=120)
    if app.results:
        print(text_report(app.results))
    return app.return_code or 0
