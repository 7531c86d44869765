"""``rnngen units``: which units track which features of a text.

A thin shell over rnngen.unit_features (the ranking) and rnngen.text_features (the features).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from rnngen.errors import RnngenError


def _features(ctx: click.Context, param: click.Parameter, specs: tuple[str, ...]) -> dict:
    """``--feature NAME=REGEX`` options -> {name: compiled regex}; a bad one is a usage error."""
    from rnngen.text_features import parse_feature_spec

    out: dict = {}
    for spec in specs:
        try:
            name, regex = parse_feature_spec(spec)
        except RnngenError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        if name in out:
            raise click.BadParameter(f"feature {name!r} is given twice", ctx=ctx, param=param)
        out[name] = regex
    return out


@click.command()
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.argument("text")
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=200_000,
    help="Read at most the first N tokens of the text.",
)
@click.option(
    "--feature",
    "features",
    multiple=True,
    callback=_features,
    metavar="NAME=REGEX",
    help="A feature of your own: tokens inside matches of REGEX (repeatable).",
)
@click.option("--top", type=click.IntRange(min=1), default=5, help="Best units shown per feature.")
@click.option("--layer", type=click.IntRange(min=1), default=None, help="Rank only this layer's units (from 1).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--encoding", default="utf-8", help="Text encoding of TEXT.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    help="CPU threads (the steps are small: more threads help only a big model on an idle machine).",
)
def units(
    ckpt: Path,
    text: str,
    max_tokens: int,
    features: dict,
    top: int,
    layer: int | None,
    as_json: bool,
    encoding: str,
    threads: int,
) -> None:
    """Which units of CKPT track which features of TEXT (a file, a folder of *.txt or a
    built-in corpus name).

    Reads the text with the model and ranks every unit (h of every layer, and c for
    an LSTM) per feature by |r|, the absolute correlation between the unit's value and
    the feature after each token. For yes/no features the best units also get a
    one-unit logistic probe, fitted on the first 70% of the tokens and scored on the
    rest, beside the base rate (always guessing the commoner answer): a probe that
    does not beat it found nothing. Constant, never active (|value| < 0.05) and
    saturated (|h| > 0.99) units, on 99% of the tokens, are listed apart, not ranked.

    \b
    Features: line_position, to_line_end, in_quotes, in_parens, in_square, in_braces,
    bracket_depth, indent, word_start, in_number, upper, after_sentence_end (word
    level: no indent or word_start), and each --feature NAME=REGEX.

    \b
    Examples:
      rnngen units checkpoints/python-char-lstm.safetensors python
      rnngen units CKPT scene.txt --feature 'name=[A-Z][a-z]+' --top 3
      rnngen units CKPT held_out.txt --json | jq '.features[] | {name, best: .units[0]}'
    """
    import torch

    from rnngen.checkpoint import load_checkpoint
    from rnngen.corpus import load_corpus
    from rnngen.unit_features import rank_units

    torch.set_num_threads(threads)
    loaded = load_checkpoint(ckpt, with_training_state=False)
    layers = loaded.model_config.layers
    if layer is not None and layer > layers:
        raise click.BadParameter(f"the model has {layers} layer(s)", param_hint="'--layer'")
    body = load_corpus(text, encoding=encoding).text
    report = rank_units(
        loaded.build_model(),
        loaded.tokenizer,
        body,
        max_tokens=max_tokens,
        extra=features,
        top=top,
        layers=None if layer is None else [layer - 1],
    )
    if report.unknown:
        click.echo(
            f"note: {len(report.unknown)} word(s) are not in the vocabulary and read as <unk>: "
            f"{' '.join(report.unknown[:8])}",
            err=True,
        )
    if as_json:
        doc = {"checkpoint": str(ckpt), "text": text, **report.to_json()}
        click.echo(json.dumps(doc, ensure_ascii=False, allow_nan=False))
        return
    _print_report(ckpt, text, loaded.model_config.label, report)


def _print_report(ckpt: Path, text: str, label: str, report) -> None:
    echo = click.echo
    states = "h and c" if report.cell == "lstm" else "h"
    echo(f"checkpoint   {ckpt}: {label}, {report.level} level")
    cut = f"the first {report.tokens:,} tokens" if report.truncated else f"{report.tokens:,} tokens"
    stretches = f", read as {report.streams} stretches side by side" if report.streams > 1 else ""
    echo(f"text         {text}: {cut}{stretches}")
    left_out = f"{len(report.inactive)} left out (listed at the end)" if report.inactive else "none left out"
    echo(f"units        {report.ranked_units} ranked ({states}); {left_out}")
    constant = []
    for f in report.features:
        if f.constant:
            constant.append(f.name)
            continue
        echo("")
        if f.kind == "binary":
            echo(f"{f.name}  {f.description}: holds on {f.mean:.1%} of tokens; base rate {f.base_rate:.3f}")
            echo("  unit           r    probe acc")
            for u in f.units:
                acc = "    -" if u.probe_acc is None else f"{u.probe_acc:.3f}"
                gain = "" if u.probe_acc is None else f"  ({u.probe_acc - f.base_rate:+.3f})"
                echo(f"  {u.label:<10} {u.r:+.3f}    {acc}{gain}")
        else:
            echo(f"{f.name}  {f.description}: mean {f.mean:.2f}, std {f.std:.2f}")
            echo("  unit           r")
            for u in f.units:
                echo(f"  {u.label:<10} {u.r:+.3f}")
    if constant:
        echo("")
        echo(f"constant in this text (nothing to rank): {', '.join(constant)}")
    if report.inactive:
        echo("")
        echo("left out")
        for reason in ("constant", "never active", "saturated"):
            names = [f"L{u.layer + 1} {u.state}#{u.unit}" for u in report.inactive if u.reason == reason]
            if names:
                shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
                echo(f"  {reason:<13} {len(names):>4}: {shown}")
