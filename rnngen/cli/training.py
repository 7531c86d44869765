"""``rnngen train``: the options, then the trainer (plain progress bar, dashboard, or N rank processes)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import click

from rnngen.cli.common import apply_options, given, quiet_console, stop_on_signals
from rnngen.config import AUTO, train_config
from rnngen.config import DEFAULTS as D

TRAIN_OPTIONS = [
    click.argument("corpus"),
    click.option(
        "--level",
        type=click.Choice(["char", "word", "bpe"]),
        default=D.level,
        help="Token level: characters, words, or byte-level BPE (needs rnngen[bpe]).",
    ),
    click.option(
        "--vocab-size",
        type=int,
        default=None,
        help="Word level: keep this many tokens, the rest become <unk>. BPE: vocabulary to learn (default 2048).",
    ),
    click.option("--model", "cell", type=click.Choice(["lstm", "gru", "rnn"]), default=D.cell, help="Recurrent cell."),
    click.option("--layers", type=int, default=None, show_default=AUTO, help="Stacked recurrent layers."),
    click.option("--hidden", type=int, default=None, show_default=AUTO, help="Units per layer."),
    click.option("--embed", type=int, default=None, show_default=AUTO, help="Embedding size."),
    click.option(
        "--dropout",
        type=float,
        default=None,
        show_default=AUTO,
        help="Dropout on embeddings, between layers and before the head (auto: by the passes the budget makes).",
    ),
    click.option(
        "--tie/--no-tie",
        default=None,
        show_default=AUTO,
        help="Tie embedding and output weights (needs --embed = --hidden; auto: tied for word level with SGD).",
    ),
    click.option(
        "--seq-len", type=int, default=None, show_default=AUTO, help="Tokens per training window (BPTT length)."
    ),
    click.option("--batch-size", type=int, default=None, show_default=AUTO, help="Parallel streams per step."),
    click.option(
        "--lr",
        type=float,
        default=None,
        show_default=AUTO,
        help="Peak learning rate (warm-up then cosine; auto: by the width for AdamW, 20 for SGD).",
    ),
    click.option(
        "--optimizer",
        type=click.Choice(["adamw", "sgd"]),
        default=None,
        show_default=AUTO,
        help="AdamW, or plain SGD at a large rate (auto: SGD for word level from two passes over the text).",
    ),
    click.option(
        "--schedule",
        type=click.Choice(["cosine", "constant"]),
        default=D.schedule,
        help="Learning rate after warm-up: cosine decay over the budget, or constant.",
    ),
    # The warm-up the planner gives when none is asked for (rnngen/planner.py, plan()).
    click.option("--warmup", "warmup_steps", type=int, default=None, show_default="50", help="Warm-up steps."),
    click.option(
        "--clip",
        type=float,
        default=None,
        show_default=AUTO,
        help="Clip the global gradient norm to this (0 = off; auto: 1.0, or 0.25 with SGD).",
    ),
    click.option(
        "--steps", type=int, default=None, help="Total optimizer steps of the run (resume counts earlier steps)."
    ),
    click.option("--epochs", type=float, default=None, help="Passes over the training text."),
    click.option(
        "--time", "time_spec", default=None, show_default="5m if no budget is given", help="Training time: 90s, 5m, 1h."
    ),
    click.option(
        "--val-frac", type=float, default=D.val_frac, help="Share of the corpus, at its end, kept for validation."
    ),
    click.option("--seed", type=int, default=D.seed, help="Random seed (same machine and threads = same run)."),
    click.option(
        "--device",
        type=click.Choice(["auto", "cpu", "cuda", "mps"]),
        default=D.device,
        help="Where to train: a CUDA GPU, an Apple GPU (mps), or the CPU (auto: CUDA if there is one, else the CPU).",
    ),
    click.option("--threads", type=int, default=None, show_default="torch's choice", help="CPU threads."),
    click.option(
        "--precision",
        type=click.Choice(["auto", "fp32", "bf16"]),
        default=D.precision,
        help="bf16 autocast (auto: where the CPU has AMX/AVX512-BF16 or the GPU has bf16).",
    ),
    click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=None,
        show_default="checkpoints/<corpus>-<level>-<model>.safetensors",
        help="Checkpoint file to write.",
    ),
    click.option(
        "--resume", type=click.Path(path_type=Path), default=None, help="Continue training from this checkpoint."
    ),
    click.option(
        "--init-from",
        type=click.Path(path_type=Path),
        default=None,
        help="Fine-tune: start from this checkpoint's weights (fresh optimizer and schedule) on CORPUS; new characters or words grow the vocabulary.",
    ),
    click.option(
        "--eval-every", type=int, default=None, show_default="about 10 per run", help="Evaluate and save every N steps."
    ),
    click.option(
        "--eval-tokens",
        type=int,
        default=None,
        show_default="what ~3% of the run affords",
        help="Evaluations during training read at most this many validation tokens.",
    ),
    click.option(
        "--patience",
        type=click.IntRange(min=1),
        default=None,
        help="Stop when N evaluations in a row bring no new best validation loss (the .best file keeps the best).",
    ),
    click.option(
        "--val-file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Validate on this text instead of the corpus's last --val-frac (the whole corpus trains).",
    ),
    click.option(
        "--on-nan",
        type=click.Choice(["stop", "skip"]),
        default=D.on_nan,
        help="On NaN/Inf: stop, or skip the step and halve the learning rate.",
    ),
    click.option("--encoding", default="utf-8", help="Text encoding of the corpus."),
    click.option("--tui", is_flag=True, help="Watch training in the dashboard."),
    click.option(
        "--nproc",
        type=int,
        default=1,
        help="Train data-parallel in N processes on this machine (nothing listens beyond loopback).",
    ),
    click.option(
        "--log-jsonl",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Write one JSON object per step to this file (see rnngen plot); an earlier log is never overwritten, --resume appends to it.",
    ),
    click.option(
        "--tensorboard",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Log scalars and gradient histograms to this TensorBoard folder (needs rnngen[tensorboard]).",
    ),
    click.option(
        "-q",
        "--quiet",
        is_flag=True,
        help="Print only errors, alarms and the result lines (checkpoint:, best:); no progress.",
    ),
    click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Also print the planner's choices in full and, per evaluation, gradient norms, learning rate and tokens/s.",
    ),
]


# The train command's parameters that are not training options, and the one named differently.
NOT_OPTIONS = (
    "corpus", "out", "resume", "init_from", "encoding", "tui", "nproc", "log_jsonl", "tensorboard", "quiet", "verbose",
)  # fmt: skip
OPTION_NAMES = {"time_spec": "time"}


def build_train_config(params: dict, ctx: click.Context):
    """TrainConfig from CLI values (through the one constructor), plus the names the user typed."""
    options = {OPTION_NAMES.get(n, n): v for n, v in params.items() if n not in NOT_OPTIONS}
    options["val_file"] = str(params["val_file"]) if params["val_file"] else None
    typed = {OPTION_NAMES.get(n, n) for n in params if n not in NOT_OPTIONS and given(ctx, n)}
    return train_config(options, given=typed)


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

    if params["quiet"] and params["verbose"]:
        raise click.UsageError("give --quiet or --verbose, not both")
    config, explicit = build_train_config(params, ctx)
    if params["patience"] is not None and params["nproc"] != 1:
        raise click.UsageError("--patience works with one process only (not with --nproc)")
    if params["device"] == "mps" and params["nproc"] != 1:
        raise click.UsageError("--nproc trains on CPUs or CUDA GPUs, not with --device mps (one Apple GPU)")
    if params["init_from"] is not None:
        _check_init_from(params, config, explicit)
    if params["nproc"] != 1 and "WORLD_SIZE" not in os.environ:
        from rnngen.cli.launcher import launch_distributed

        ctx.exit(launch_distributed(ctx, params))
    corpus = load_corpus(params["corpus"], encoding=params["encoding"])
    if params["tui"]:
        from rnngen.tui.launch import run_training_dashboard

        code = run_training_dashboard(config, corpus, out=params["out"], resume=params["resume"], explicit=explicit)
        ctx.exit(code)
    from rnngen.api import run_training
    from rnngen.progress import NORMAL, QUIET, VERBOSE, TrainingProgress
    from rnngen.training.distributed import rank

    quiet = rank() != 0  # in a multi-process run only rank 0 speaks
    verbosity = QUIET if params["quiet"] else VERBOSE if params["verbose"] else NORMAL
    with TrainingProgress(quiet_console() if quiet else None, verbosity=verbosity) as progress:
        stop = threading.Event()
        with stop_on_signals(stop, progress.say):
            done = run_training(
                config,
                corpus,
                out=params["out"],
                resume=params["resume"],
                init_from=params["init_from"],
                callback=progress.handle,
                explicit=explicit,
                stop=stop,
                log_jsonl=params["log_jsonl"],
                tensorboard=params["tensorboard"],
            )
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
    if done.reason == "patience":
        click.echo(
            f"stopped early at step {done.step}: no new best validation loss in the last {config.patience} "
            f"evaluations; the best checkpoint is {done.best_path}"
        )


def _check_init_from(params: dict, config, explicit: set[str]) -> None:
    """--init-from's refusals, before anything is read or trained: one line, exit 2."""
    from rnngen.cli.common import flag
    from rnngen.errors import RnngenError
    from rnngen.fine_tune import config_from_parent, load_parent

    if params["resume"] is not None:
        raise click.UsageError(
            "give --init-from or --resume, not both (--resume continues a run, --init-from starts one)"
        )
    if params["nproc"] != 1 or params["tui"]:
        raise click.UsageError("--init-from works in the plain one-process run (not with --nproc or --tui)")
    try:
        config_from_parent(config, explicit, load_parent(params["init_from"]))
    except RnngenError as exc:
        message = exc.render(flag)
        raise click.UsageError(message if "--init-from" in message else f"--init-from: {message}") from None
