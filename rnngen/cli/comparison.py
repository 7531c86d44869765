"""``rnngen compare CORPUS --models rnn,lstm,gru [--time 2m]``: the cells side by side."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import click

from rnngen.cli.common import given, stop_on_signals
from rnngen.config import AUTO, train_config
from rnngen.config import DEFAULTS as D
from rnngen.errors import RnngenError
from rnngen.units import format_duration


@click.command()
@click.argument("corpus")
@click.option("--models", default="rnn,lstm,gru", help="Cells to compare, comma-separated: rnn, lstm, gru.")
@click.option("--time", "time_spec", default="2m", help="Total training time, split evenly between the cells.")
@click.option("--steps", type=int, default=None, help="Steps per cell instead of --time (the same for every cell).")
@click.option("--level", type=click.Choice(["char", "word"]), default=D.level, help="Token level.")
@click.option("--layers", type=int, default=None, show_default=AUTO, help="Stacked recurrent layers.")
@click.option("--hidden", type=int, default=None, show_default=AUTO, help="Units per layer (the same for every cell).")
@click.option("--embed", type=int, default=None, show_default=AUTO, help="Embedding size.")
@click.option("--seq-len", type=int, default=None, show_default=AUTO, help="Tokens per training window (BPTT length).")
@click.option("--batch-size", type=int, default=None, show_default=AUTO, help="Parallel streams per step.")
@click.option("--lr", type=float, default=None, show_default=AUTO, help="Peak learning rate.")
@click.option(
    "--clip", type=float, default=None, show_default=AUTO, help="Clip the global gradient norm to this (0 = off)."
)
@click.option("--eval-every", type=int, default=None, show_default="about 10 per run", help="Evaluate every N steps.")
@click.option(
    "--val-frac", type=float, default=D.val_frac, help="Share of the corpus, at its end, kept for validation."
)
@click.option("--seed", type=int, default=D.seed, help="Random seed (the same for every cell).")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default=D.device,
    help="Where to train: a CUDA GPU, an Apple GPU (mps), or the CPU (auto: CUDA if there is one, else the CPU).",
)
@click.option("--threads", type=int, default=None, show_default="torch's choice", help="CPU threads.")
@click.option("--probe-len", type=int, default=96, help="Tokens of the validation window the gradient is measured on.")
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    default=None,
    show_default="checkpoints/compare-<corpus>/",
    help="Folder for one checkpoint per cell.",
)
@click.option("--encoding", default="utf-8", help="Text encoding of the corpus.")
@click.option("--tui", is_flag=True, help="Show the comparison live in the terminal (needs a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.pass_context
def compare(
    ctx: click.Context,
    corpus: str,
    models: str,
    time_spec: str,
    steps: int | None,
    level: str,
    layers,
    hidden,
    embed,
    seq_len,
    batch_size,
    lr,
    clip,
    eval_every,
    val_frac,
    seed,
    device,
    threads,
    probe_len: int,
    out_dir: Path | None,
    encoding: str,
    tui: bool,
    as_json: bool,
) -> None:
    """Train several cells on CORPUS with the same budget and compare them side by side.

    Prints, per cell: parameters, steps, final validation loss, bits per character, and
    the gradient decay ratio ||dL/dh_1||/||dL/dh_T|| on the same validation window (near 0:
    the gradient vanished on its way back through time; near 1: it survived), then the
    gradient-through-time profiles on one log-scale axis.

    \b
    Examples:
      rnngen compare shakespeare --time 3m
      rnngen compare notes.txt --models rnn,lstm --steps 500 --hidden 64
    """
    from rnngen.compare import build_trainers, parse_models, run_comparison, text_report
    from rnngen.corpus import load_corpus

    cells = parse_models(models)
    if probe_len < 2:
        raise RnngenError("--probe-len must be at least 2")
    # --time has a default: it is the budget unless --steps is given instead.
    time = time_spec if given(ctx, "time_spec") or steps is None else None
    config, _ = train_config(
        dict(
            level=level,
            layers=layers,
            hidden=hidden,
            embed=embed,
            seq_len=seq_len,
            batch_size=batch_size,
            lr=lr,
            clip=clip,
            eval_every=eval_every,
            val_frac=val_frac,
            seed=seed,
            device=device,
            threads=threads,
            steps=steps,
            time=time,
        ),
        budgets=("steps", "time_s"),
    )
    text = load_corpus(corpus, encoding=encoding)
    if out_dir is None:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text.name) or "corpus"
        out_dir = Path("checkpoints") / f"compare-{safe}"
    trainers = build_trainers(config, text, cells, out_dir)

    if tui and sys.stdout.isatty() and sys.stdin.isatty():
        from rnngen.tui.launch import run_compare_dashboard

        ctx.exit(run_compare_dashboard(trainers, probe_len=probe_len))

    budget = f"{steps} steps each" if config.time_s is None else f"{format_duration(config.time_s / len(cells))} each"
    stop = threading.Event()

    def say(message: str) -> None:
        click.echo(message, err=True)

    def progress(cell, event):
        from rnngen.training import DoneEvent, StartEvent

        if isinstance(event, StartEvent):
            say(f"training {event.model_config.label} ({event.parameters:,} parameters, {budget})…")
        elif isinstance(event, DoneEvent):
            val = f"val loss {event.val.loss:.4f}" if event.val else "no validation text"
            say(f"  {cell}: {event.step} steps, {val}")

    with stop_on_signals(stop, say):
        results = run_comparison(trainers, callback=progress, stop=stop, probe_len=probe_len)
    if as_json:
        click.echo(json.dumps({"corpus": text.name, "out_dir": str(out_dir), "cells": [r.to_json() for r in results]}))
        return
    click.echo(text_report(results))
    click.echo(f"\ncheckpoints: {out_dir}/")
