"""``rnngen train``: the options, then the trainer (plain progress bar, dashboard, or torchrun)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import click

from rnngen.cli.common import apply_options, quiet_console, stop_on_signals
from rnngen.errors import RnngenError
from rnngen.units import parse_duration

TRAIN_OPTIONS = [
    click.argument("corpus"),
    click.option("--level", type=click.Choice(["char", "word", "bpe"]), default="char",
                 help="Token level: characters, words, or byte-level BPE (needs rnngen[bpe])."),
    click.option("--vocab-size", type=int, default=None,
                 help="Word level: keep this many tokens, the rest become <unk>. BPE: vocabulary to learn (default 2048)."),
    click.option("--model", "cell", type=click.Choice(["lstm", "gru", "rnn"]), default="lstm", help="Recurrent cell."),
    click.option("--layers", type=int, default=None, show_default="auto", help="Stacked recurrent layers."),
    click.option("--hidden", type=int, default=None, show_default="auto", help="Units per layer."),
    click.option("--embed", type=int, default=None, show_default="auto", help="Embedding size."),
    click.option("--dropout", type=float, default=None, show_default="auto",
                 help="Dropout on embeddings, between layers and before the head (auto: by the passes the budget makes)."),
    click.option("--tie/--no-tie", default=False, help="Tie embedding and output weights (needs --embed = --hidden)."),
    click.option("--seq-len", type=int, default=None, show_default="auto", help="Tokens per training window (BPTT length)."),
    click.option("--batch-size", type=int, default=None, show_default="auto", help="Parallel streams per step."),
    click.option("--lr", type=float, default=None, show_default="auto",
                 help="Peak learning rate (AdamW, warm-up then cosine; auto: by the width)."),
    click.option("--schedule", type=click.Choice(["cosine", "constant"]), default="cosine",
                 help="Learning rate after warm-up: cosine decay over the budget, or constant."),
    click.option("--warmup", "warmup_steps", type=int, default=None, show_default="50", help="Warm-up steps."),
    click.option("--clip", type=float, default=1.0, help="Clip the global gradient norm to this (0 = off)."),
    click.option("--steps", type=int, default=None, help="Total optimizer steps of the run (resume counts earlier steps)."),
    click.option("--epochs", type=float, default=None, help="Passes over the training text."),
    click.option("--time", "time_spec", default=None, show_default="5m if no budget is given", help="Training time: 90s, 5m, 1h."),
    click.option("--val-frac", type=float, default=0.1, help="Share of the corpus, at its end, kept for validation."),
    click.option("--seed", type=int, default=1337, help="Random seed (same machine and threads = same run)."),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", help="Where to train."),
    click.option("--threads", type=int, default=None, show_default="torch's choice", help="CPU threads."),
    click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto",
                 help="bf16 autocast (auto: where the CPU has AMX/AVX512-BF16 or the GPU has bf16)."),
    click.option("--out", type=click.Path(path_type=Path), default=None,
                 show_default="checkpoints/<corpus>-<level>-<model>.safetensors", help="Checkpoint file to write."),
    click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue training from this checkpoint."),
    click.option("--eval-every", type=int, default=None, show_default="about 10 per run", help="Evaluate and save every N steps."),
    click.option("--eval-tokens", type=int, default=None, show_default="what ~3% of the run affords",
                 help="Evaluations during training read at most this many validation tokens."),
    click.option("--val-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
                 help="Validate on this text instead of the corpus's last --val-frac (the whole corpus trains)."),
    click.option("--on-nan", type=click.Choice(["stop", "skip"]), default="stop",
                 help="On NaN/Inf: stop, or skip the step and halve the learning rate."),
    click.option("--encoding", default="utf-8", help="Text encoding of the corpus."),
    click.option("--tui", is_flag=True, help="Watch training in the dashboard."),
    click.option("--nproc", type=int, default=1, help="Train data-parallel in N processes (runs torchrun for you)."),
    click.option("--log-jsonl", type=click.Path(path_type=Path, dir_okay=False), default=None,
                 help="Write one JSON object per step to this file (see rnngen plot)."),
    click.option("--tensorboard", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help="Log scalars and gradient histograms to this TensorBoard folder (needs rnngen[tensorboard])."),
]



def build_train_config(params: dict, ctx: click.Context):
    """TrainConfig from CLI values, plus the names the user actually typed."""
    from rnngen.training import TrainConfig

    explicit = {
        name for name in params
        if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)
    }
    renames = {"time_spec": "time_s"}
    explicit = {renames.get(n, n) for n in explicit}
    config = TrainConfig(
        level=params["level"], vocab_size=params["vocab_size"], cell=params["cell"],
        layers=params["layers"], hidden=params["hidden"], embed=params["embed"], dropout=params["dropout"],
        tie=params["tie"], seq_len=params["seq_len"], batch_size=params["batch_size"], lr=params["lr"],
        clip=params["clip"], steps=params["steps"], epochs=params["epochs"],
        time_s=parse_duration(params["time_spec"]) if params["time_spec"] else None,
        val_frac=params["val_frac"], eval_every=params["eval_every"], seed=params["seed"],
        device=params["device"], threads=params["threads"], on_nan=params["on_nan"],
        schedule=params["schedule"], warmup_steps=params["warmup_steps"], precision=params["precision"],
        eval_tokens=params["eval_tokens"], val_file=str(params["val_file"]) if params["val_file"] else None,
    )
    budgets = [n for n in ("steps", "epochs", "time_s") if getattr(config, n) is not None]
    if len(budgets) > 1:
        raise RnngenError("give one budget: --steps, --epochs or --time")
    return config, explicit



@click.command()
@apply_options(TRAIN_OPTIONS)
@click.pass_context
def train(ctx: click.Context, **params) -> None:
    """Train a model on CORPUS (a text file, a folder of .txt files, or a built-in name).

    \b
    Examples:
      rnngen train shakespeare --time 3m
      rnngen train notes.txt --level word --model gru --steps 2000
      rnngen train shakespeare --resume checkpoints/shakespeare-char-lstm.safetensors --time 10m
    """
    from rnngen.corpus import load_corpus

    config, explicit = build_train_config(params, ctx)
    if params["nproc"] != 1 and "WORLD_SIZE" not in os.environ:
        from rnngen.cli.launcher import launch_distributed

        ctx.exit(launch_distributed(ctx, params))
    corpus = load_corpus(params["corpus"], encoding=params["encoding"])
    if params["tui"]:
        from rnngen.tui.launch import run_training_dashboard

        code = run_training_dashboard(config, corpus, out=params["out"], resume=params["resume"], explicit=explicit)
        ctx.exit(code)
    from rnngen.api import run_training
    from rnngen.distributed import rank
    from rnngen.progress import TrainingProgress

    quiet = rank() != 0  # under torchrun only rank 0 speaks
    with TrainingProgress(quiet_console() if quiet else None) as progress:
        stop = threading.Event()
        with stop_on_signals(stop, progress.say):
            done = run_training(config, corpus, out=params["out"], resume=params["resume"],
                                callback=progress.handle, explicit=explicit, stop=stop,
                                log_jsonl=params["log_jsonl"], tensorboard=params["tensorboard"])
    if quiet:
        return
    if done.reason == "diverged":
        click.echo(f"error: training diverged at step {done.step + 1}; last good checkpoint: {done.out}", err=True)
        ctx.exit(3)
    click.echo(f"checkpoint: {done.out}")
    if done.best_path:
        click.echo(f"best:       {done.best_path}")
    if done.reason == "stopped":
        click.echo(f"stopped at step {done.step}; continue with: rnngen train {params['corpus']} --resume {done.out}")

