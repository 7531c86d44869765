"""Shared fixtures: tiny corpora and tiny checkpoints, so every test runs in seconds."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from rnngen.cli import cli

# One thread: tests are deterministic and don't fight each other for the two cores.
torch.set_num_threads(1)

ENGLISH = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
    "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n\n"
)
CHINESE = "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。\n白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。\n"


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpora")
    (folder / "english.txt").write_text(ENGLISH * 12, encoding="utf-8")
    (folder / "chinese.txt").write_text(CHINESE * 20, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def english_corpus(corpus_dir) -> Path:
    return corpus_dir / "english.txt"


@pytest.fixture(scope="session")
def chinese_corpus(corpus_dir) -> Path:
    return corpus_dir / "chinese.txt"


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


@pytest.fixture(scope="session")
def char_ckpt(tmp_path_factory, english_corpus) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "char.safetensors"
    run_cli("train", english_corpus, "--steps", "30", "--out", out, *TINY)
    return out


@pytest.fixture(scope="session")
def word_ckpt(tmp_path_factory, english_corpus) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "word.safetensors"
    run_cli("train", english_corpus, "--level", "word", "--steps", "30", "--out", out, *TINY)
    return out


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Default checkpoint and corpus folders land in the test's temporary folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNNGEN_CORPORA", str(tmp_path / "corpora"))
    yield
