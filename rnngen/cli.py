"""The ``rnngen`` command line: a thin click shell over the core modules."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import click

from rnngen.errors import RnngenError


def parse_duration(spec: str) -> float:
    """'90s', '5m', '1h', '1h30m' or plain seconds -> seconds."""
    text = spec.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise RnngenError(f"--time {spec!r} is not a duration: use forms like 90s, 5m, 1h or 1h30m")
        seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if seconds <= 0:
        raise RnngenError("--time must be more than 0")
    return seconds


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class RnngenGroup(click.Group):
    """Every error becomes one line on stderr and a non-zero exit, never a traceback.

    rnngen's own errors exit 1, click's usage errors exit 2, Ctrl-C exits 130.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except RnngenError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=RnngenGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(package_name="rnngen")
def cli() -> None:
    """Train, sample and look inside character- and word-level RNN/LSTM/GRU text generators."""


# ---- train ----------------------------------------------------------------------------

_train_options = [
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


def _apply(options):
    def decorator(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorator


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


@cli.command()
@_apply(_train_options)
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
        from rnngen.cli_extra import launch_distributed

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
    with TrainingProgress(_quiet_console() if quiet else None) as progress:
        stop = threading.Event()
        with _stop_on_signals(stop, progress.say):
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


def _quiet_console():
    from rich.console import Console

    return Console(stderr=True, quiet=True)


class _stop_on_signals:
    """Ctrl-C and SIGTERM ask the trainer to save and stop; a second Ctrl-C quits at once.

    Quitting at once is safe: checkpoints are written to a temporary file and renamed.
    """

    def __init__(self, stop: threading.Event, say):
        self.stop, self.say, self.previous = stop, say, {}

    def _handler(self, signum, frame):
        if self.stop.is_set():
            os._exit(130)
        self.stop.set()
        self.say("stopping: saving a checkpoint (press Ctrl-C again to quit without saving)")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


# ---- sample ---------------------------------------------------------------------------


@cli.command()
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.option("--temp", type=float, default=0.8, help="Temperature: lower is safer, higher is wilder; 0 = argmax.")
@click.option("--top-k", type=int, default=0, help="Sample only from the K most likely tokens (0 = off).")
@click.option("--top-p", type=float, default=1.0, help="Sample from the smallest set holding probability P (1 = off).")
@click.option("--prime", default="", help="Text to start from; the output begins with it.")
@click.option("--length", type=int, default=500, help="New tokens to generate.")
@click.option("--seed", type=int, default=None, help="Random seed for reproducible samples.")
@click.option("--num", type=int, default=1, help="Independent samples, generated as one batch.")
@click.option("--threads", type=int, default=None, show_default="all cores",
              help="CPU threads; batch-1 sampling of big models is memory-bound and gains from several cores.")
def sample(ckpt: Path, temp: float, top_k: int, top_p: float, prime: str, length: int,
           seed: int | None, num: int, threads: int) -> None:
    """Generate text from a checkpoint, streaming it as it is made.

    \b
    Examples:
      rnngen sample checkpoints/shakespeare-char-lstm.safetensors --temp 0.8
      rnngen sample CKPT --prime "ROMEO:" --length 300 --top-p 0.9 --seed 1
      rnngen sample CKPT --num 4 --temp 0   # four greedy samples
    """
    import torch

    from rnngen.checkpoint import load_checkpoint
    from rnngen.sampling import SamplingConfig, encode_prime, generate

    config = SamplingConfig(temperature=temp, top_k=top_k, top_p=top_p)
    config.validate()
    if length < 0 or num < 1:
        raise RnngenError("--length must be 0 or more and --num at least 1")
    if threads is not None:
        if threads < 1:
            raise RnngenError("--threads must be at least 1")
        torch.set_num_threads(threads)
    loaded = load_checkpoint(ckpt, with_training_state=False)
    model, tokenizer = loaded.build_model(), loaded.tokenizer
    if prime:
        _, unknown = encode_prime(tokenizer, prime)
        if unknown:
            click.echo(f"note: {len(unknown)} word(s) of the prime are not in the vocabulary and read as <unk>: "
                       f"{' '.join(unknown[:8])}", err=True)
    out = sys.stdout
    stream = generate(model, tokenizer, prime=prime, length=length, config=config, seed=seed, num=num)
    if num == 1:
        from rnngen.api import text_pieces  # word spacing; BPE bytes held until a character is whole

        out.write(prime)
        last_flush = time.perf_counter()
        for piece in text_pieces(tokenizer, (int(new[0]) for new in stream), after=prime):
            out.write(piece)
            now = time.perf_counter()
            if now - last_flush > 0.05:
                out.flush()
                last_flush = now
        out.write("\n")
        out.flush()
        return
    columns: list[list[int]] = [[] for _ in range(num)]
    for new in stream:
        for i, token_id in enumerate(new.tolist()):
            columns[i].append(token_id)
    from rnngen.sampling import continue_text

    for i, col in enumerate(columns):
        if i:
            out.write("\n" + "-" * 40 + "\n")
        out.write(continue_text(tokenizer, prime, col) + "\n")
    out.flush()


# ---- eval and info ---------------------------------------------------------------------


@cli.command(name="eval")
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.argument("corpus")
@click.option("--split", type=click.Choice(["all", "val", "train"]), default="all",
              help="Evaluate the whole text, or only the part the checkpoint's --val-frac held out (val) or trained on.")
@click.option("--encoding", default="utf-8", help="Text encoding of the corpus.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--threads", type=int, default=None, help="CPU threads.")
def eval_command(ckpt: Path, corpus: str, split: str, encoding: str, as_json: bool, threads: int | None) -> None:
    """Loss (nats/token), perplexity and bits per character of CKPT on CORPUS.

    \b
    Example:
      rnngen eval checkpoints/shakespeare-char-lstm.safetensors val.txt
    """
    import torch

    from rnngen.checkpoint import load_checkpoint
    from rnngen.corpus import load_corpus
    from rnngen.data import split_text
    from rnngen.evaluation import evaluate

    if threads:
        torch.set_num_threads(threads)
    loaded = load_checkpoint(ckpt, with_training_state=False)
    text = load_corpus(corpus, encoding=encoding).text
    if split != "all":
        val_frac = float(loaded.train.get("config", {}).get("val_frac", 0.1))
        train_text, val_text = split_text(text, val_frac)
        text = val_text if split == "val" else train_text
    if loaded.tokenizer.level == "char":
        unseen = sorted(set(text) - set(loaded.tokenizer.vocab))
        if unseen:
            raise RnngenError(
                f"the corpus has {len(unseen)} character(s) the model never saw, e.g. {''.join(unseen[:10])!r}"
            )
    ids = loaded.tokenizer.encode(text)
    if ids.size < 2:
        raise RnngenError("the text to evaluate has fewer than 2 tokens")
    result = evaluate(loaded.build_model(), ids, len(text))
    if as_json:
        click.echo(json.dumps(result.to_json()))
        return
    click.echo(f"tokens      {result.tokens}")
    click.echo(f"loss        {result.loss:.4f} nats/token")
    click.echo(f"perplexity  {result.perplexity:.3f}")
    click.echo(f"bpc         {result.bpc:.4f} bits/char")


@cli.command()
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(ckpt: Path, as_json: bool) -> None:
    """Model config, vocabulary, parameters and training history of CKPT."""
    from rnngen.checkpoint import load_checkpoint

    loaded = load_checkpoint(ckpt)
    model = loaded.build_model()
    t = loaded.train
    doc = {
        "path": str(ckpt),
        "format": loaded.format_version,
        "model": loaded.model_config.to_json(),
        "level": loaded.tokenizer.level,
        "vocab_size": loaded.tokenizer.vocab_size,
        "parameters": model.num_parameters(),
        "step": t.get("step"),
        "tokens_seen": t.get("tokens_seen"),
        "elapsed_s": t.get("elapsed_s"),
        "best_val_loss": t.get("best_val_loss"),
        "best_step": t.get("best_step"),
        "resumable": loaded.resumable,
        "train_config": t.get("config"),
        "plan": t.get("plan"),
        "history": t.get("history", []),
    }
    if as_json:
        click.echo(json.dumps(doc))
        return
    m = loaded.model_config
    click.echo(f"checkpoint   {ckpt}  (format {doc['format']}{', resumable' if doc['resumable'] else ', weights only'})")
    click.echo(f"model        {m.cell.upper()} {m.layers}x{m.hidden}, embed {m.embed}, dropout {m.dropout}"
               f"{', tied' if m.tie else ''}")
    click.echo(f"parameters   {doc['parameters']:,}")
    sample_vocab = "".join(loaded.tokenizer.vocab[:40]) if doc["level"] == "char" else " ".join(loaded.tokenizer.vocab[:15])
    click.echo(f"vocabulary   {doc['vocab_size']} {doc['level']} tokens: {sample_vocab!r}")
    click.echo(f"trained      {doc['step']} steps, {doc['tokens_seen']:,} tokens, {format_duration(doc['elapsed_s'])}")
    plan = doc["plan"]
    if isinstance(plan, dict) and isinstance(plan.get("summary"), str) and plan["summary"]:
        click.echo(f"plan         {plan['summary']}")
    if doc["best_val_loss"] is not None:
        click.echo(f"best val     {doc['best_val_loss']:.4f} nats/token at step {doc['best_step']}")
    if doc["history"]:
        click.echo("history      step    train    val      val bpc")
        for row in doc["history"][-12:]:
            fmt = lambda v: f"{v:.4f}" if isinstance(v, (int, float)) else "  -   "
            click.echo(f"             {row['step']:<7} {fmt(row.get('train_loss'))}   {fmt(row.get('val_loss'))}   "
                       f"{fmt(row.get('val_bpc'))}")


# ---- corpora ---------------------------------------------------------------------------


@cli.group()
def corpus() -> None:
    """Built-in corpora: list them, or fetch one into corpora/."""


@corpus.command(name="list")
def corpus_list() -> None:
    """Show the built-in corpora with size and source."""
    from rnngen.corpus import list_builtins

    for item in list_builtins():
        size = f"{item.size_bytes / 1e6:.1f} MB" if item.size_bytes is not None else "not fetched"
        click.echo(f"{item.name:<12} {size:>12}  {item.description} ({item.source})")


@corpus.command(name="get")
@click.argument("name")
def corpus_get(name: str) -> None:
    """Fetch built-in corpus NAME into corpora/ (cached)."""
    from rnngen.corpus import get_builtin

    path = get_builtin(name, progress=lambda msg: click.echo(msg, err=True))
    click.echo(str(path))


def main() -> None:
    """Console-script entry point."""
    cli()
from rnngen import cli_inspect  # noqa: E402,F401  (registers inspect and tui)
from rnngen import cli_extra  # noqa: E402,F401  (registers plot and export)
from rnngen import cli_compare  # noqa: E402,F401  (registers compare)
