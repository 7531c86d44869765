"""``rnngen eval`` and ``rnngen info``: what a checkpoint scores on a text, and what it holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from rnngen.cli.common import echo
from rnngen.errors import RnngenError
from rnngen.units import format_duration


@click.command(name="eval")
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.argument("corpus")
@click.option(
    "--split",
    type=click.Choice(["all", "val", "train"]),
    default="all",
    help="Evaluate the whole text, or only the part the checkpoint's --val-frac held out (val) or trained on.",
)
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
        train_text, val_text = split_text(text, _saved_val_frac(loaded.train, ckpt))
        text = val_text if split == "val" else train_text
    if loaded.tokenizer.level == "char" and getattr(loaded.tokenizer, "unk_id", None) is None:  # else: read as <unk>
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


@click.command()
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(ckpt: Path, as_json: bool) -> None:
    """Model config, vocabulary, parameters and training history of CKPT."""
    from rnngen.checkpoint import load_checkpoint
    from rnngen.history_diagnosis import diagnose
    from rnngen.resume_state import malformed_fields, valid_history

    loaded = load_checkpoint(ckpt)
    model = loaded.build_model()
    t = loaded.train
    # Training metadata may be damaged or a stranger's: what breaks its rules is named on a
    # "malformed" line (null in --json) and everything valid still shows.
    malformed = malformed_fields(t)
    kept = {name: (None if name in malformed else t.get(name)) for name in t}
    doc: dict[str, Any] = {
        "path": str(ckpt),
        "format": loaded.format_version,
        "model": loaded.model_config.to_json(),
        "level": loaded.tokenizer.level,
        "vocab_size": loaded.tokenizer.vocab_size,
        "parameters": model.num_parameters(),
        "step": kept.get("step"),
        "tokens_seen": kept.get("tokens_seen"),
        "elapsed_s": kept.get("elapsed_s"),
        "best_val_loss": kept.get("best_val_loss"),
        "best_step": kept.get("best_step"),
        "resumable": loaded.resumable,
        "train_config": kept.get("config"),
        "plan": kept.get("plan"),
        "history": valid_history(t),
        "diagnosis": diagnose(valid_history(t), t.get("unigram_loss")).to_json(),
        "parent": t.get("parent") if isinstance(t.get("parent"), dict) else None,
        "malformed": malformed,
    }
    if as_json:
        click.echo(json.dumps(doc))  # ASCII only: every control character is a \u escape
        return
    # Checkpoint metadata may be a stranger's text: echo shows a terminal its control characters.
    m = loaded.model_config
    echo(f"checkpoint   {ckpt}  (format {doc['format']}{', resumable' if doc['resumable'] else ', weights only'})")
    echo(f"model        {m.label}, embed {m.embed}, dropout {m.dropout}{', tied' if m.tie else ''}")
    echo(f"parameters   {doc['parameters']:,}")
    sample_vocab = (
        "".join(loaded.tokenizer.vocab[:40]) if doc["level"] == "char" else " ".join(loaded.tokenizer.vocab[:15])
    )
    echo(f"vocabulary   {doc['vocab_size']} {doc['level']} tokens: {sample_vocab!r}")
    tokens = _shown(doc["tokens_seen"], "{:,}".format)
    echo(f"trained      {_shown(doc['step'])} steps, {tokens} tokens, {format_duration(doc['elapsed_s'])}")
    plan = doc["plan"]
    if isinstance(plan, dict) and isinstance(plan.get("summary"), str) and plan["summary"]:
        echo(f"plan         {plan['summary']}")
    if doc["best_val_loss"] is not None:
        echo(f"best val     {doc['best_val_loss']:.4f} nats/token at step {_shown(doc['best_step'])}")
    if doc["history"]:
        echo("history      step    train    val      val bpc")
        for row in doc["history"][-12:]:
            fmt = lambda v: f"{v:.4f}" if isinstance(v, (int, float)) else "  -   "
            echo(
                f"             {row['step']:<7} {fmt(row.get('train_loss'))}   {fmt(row.get('val_loss'))}   "
                f"{fmt(row.get('val_bpc'))}"
            )
    if doc["history"]:
        echo(f"diagnosis    {doc['diagnosis']['text']}")
    if doc["parent"] is not None:
        p = doc["parent"]
        echo(f"parent       {p.get('path')} (sha256 {str(p.get('sha256'))[:12]}..., {_shown(p.get('steps'))} steps)")
    if malformed:
        echo(f"malformed    {', '.join(malformed)} (training metadata that breaks its rules: shown as ? or left out)")


def _shown(value: object, fmt: Callable[[Any], str] = str) -> str:
    return "?" if value is None else fmt(value)


def _saved_val_frac(train: dict, ckpt: Path) -> float:
    """The share of the text the checkpoint's run held out for validation (0.1 if unrecorded)."""
    config = train.get("config", {})
    value = config.get("val_frac", 0.1) if isinstance(config, dict) else None
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1):
        raise RnngenError(f"{ckpt}: the checkpoint's val_frac is malformed, so its validation split is unknown")
    return float(value)
