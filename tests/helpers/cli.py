"""Tiny corpora, the tiny model options and the in-process CLI runner."""

from __future__ import annotations

import math
from collections import Counter

from click.testing import CliRunner

from rnngen.cli import cli

ENGLISH = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
    "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n\n"
)
CHINESE = "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。\n白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。\n"

TINY = ["--hidden", "16", "--embed", "8", "--layers", "1", "--seq-len", "16", "--batch-size", "4",
        "--threads", "1", "--seed", "3"]


def unigram_entropy(tokens) -> float:
    """Nats per token of a model that knows only token frequencies (where a fresh rnngen
    model starts): no loss below it without using context."""
    counts = Counter(tokens.tolist() if hasattr(tokens, "tolist") else tokens)
    total = sum(counts.values())
    return -sum(n / total * math.log(n / total) for n in counts.values())


def run_cli(*args: str, ok: bool = True):
    """Invoke the real CLI in-process; check the exit code."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}\n{result.exception!r}"
    return result
