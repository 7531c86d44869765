"""``rnngen novelty SOURCE CORPUS`` and ``rnngen sample --novelty CORPUS``: did the model copy
its training text? SOURCE is a checkpoint (samples are generated) or a text file of samples."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rnngen.cli.common import echo
from rnngen.errors import RnngenError


def corpus_index(corpus: str, encoding: str = "utf-8", *, option: str = "CORPUS"):
    """The corpus's copy-check index; an unreadable corpus is a usage error (exit 2)."""
    from rnngen.corpus import load_corpus
    from rnngen.novelty import CorpusIndex

    try:
        return CorpusIndex(load_corpus(corpus, encoding=encoding).text)
    except RnngenError as exc:
        raise click.UsageError(f"{option}: {exc}") from None


def print_reports(samples: list[str], reports: list, *, as_json: bool, err: bool = False) -> None:
    """One block per sample, or one JSON object (``samples``: a list of reports)."""
    if as_json:
        docs = [dict(report.to_json(), sample=i + 1) for i, report in enumerate(reports)]
        click.echo(json.dumps({"samples": docs}), err=err)
        return
    for i, report in enumerate(reports):
        longest = report.longest
        if longest is None or longest.length == 0:
            echo(f"sample {i + 1}: {report.chars} chars, nothing shared with the corpus", err=err)
            continue
        shown = longest.text if len(longest.text) <= 60 else longest.text[:57] + "..."
        echo(
            f"sample {i + 1}: {report.chars} chars; longest shared stretch {longest.length} chars at corpus char "
            f"{longest.corpus_offset:,} (line {longest.line:,}): {shown!r}",
            err=err,
        )
        echo(f"  copied: {report.copied_share:.1%} of the sample in stretches of {report.threshold} or more", err=err)


def novelty_option(ctx: click.Context, param: click.Parameter, value: str | None):
    """``sample --novelty CORPUS``: the corpus indexed while the options are read (a bad one: exit 2)."""
    return None if value is None else corpus_index(value, option="--novelty")


def report_novelty(index, texts: list[str], *, level: str, as_json: bool) -> None:
    """``sample --novelty``'s report, on stderr so stdout keeps only the samples."""
    min_words = 5 if level == "word" else None
    reports = [index.check(text, min_words=min_words) for text in texts]
    print_reports(texts, reports, as_json=as_json, err=True)


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("corpus")
@click.option("--num", type=click.IntRange(min=1), default=1, help="Checkpoint: samples to generate.")
@click.option("--length", type=click.IntRange(min=1), default=500, help="Checkpoint: tokens per sample.")
@click.option("--temp", type=click.FloatRange(min=0, min_open=True), default=0.8, help="Checkpoint: temperature.")
@click.option("--seed", type=int, default=None, help="Checkpoint: random seed.")
@click.option(
    "--min-chars",
    type=click.IntRange(min=1),
    default=20,
    help="A shared stretch counts as copied from this many characters.",
)
@click.option(
    "--min-words",
    type=click.IntRange(min=1),
    default=None,
    show_default="5 for a word-level checkpoint",
    help="Count copied stretches by words instead (this many or more).",
)
@click.option("--encoding", default="utf-8", help="Text encoding of CORPUS and of a SOURCE text file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def novelty(
    source: Path,
    corpus: str,
    num: int,
    length: int,
    temp: float,
    seed: int | None,
    min_chars: int,
    min_words: int | None,
    encoding: str,
    as_json: bool,
) -> None:
    """How much of each sample is copied verbatim from CORPUS (the training text).

    SOURCE is a checkpoint (NUM samples of LENGTH tokens are generated) or a text file of
    samples separated by lines of ---. For each sample: the longest stretch it shares with
    CORPUS, where it starts there (char offset and line), and the share of the sample inside
    shared stretches of at least --min-chars characters (or --min-words words).

    \b
    Examples:
      rnngen novelty checkpoints/shakespeare-char-lstm.safetensors shakespeare --num 3
      rnngen novelty samples.txt notes.txt --json
    """
    from rnngen.checkpoint import is_rnngen_checkpoint
    from rnngen.novelty import split_samples
    from rnngen.text_files import read_text_file

    if not source.exists():
        raise click.UsageError(f"SOURCE {source} does not exist")
    if is_rnngen_checkpoint(source):
        from rnngen.api import load

        model = load(source)
        if min_words is None and model.tokenizer.level == "word":
            min_words = 5
        samples = model.samples(num, "", length, temp, seed=seed)
    else:
        try:
            samples = split_samples(read_text_file(source, encoding=encoding))
        except RnngenError as exc:
            raise click.UsageError(f"SOURCE: {exc}") from None
        if not samples:
            raise click.UsageError(f"SOURCE {source} holds no sample text")
    index = corpus_index(corpus, encoding)
    reports = [index.check(s, min_chars=min_chars, min_words=min_words) for s in samples]
    print_reports(samples, reports, as_json=as_json)
