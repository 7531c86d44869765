"""Shared fixtures: tiny corpora and tiny checkpoints, so every test runs in seconds.

Tests are grouped by layer: unit/ (core and API), cli/, tui/, reliability/; the helpers they
share are the package tests/helpers/."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.cli import CHINESE, ENGLISH, TINY, run_cli

# One thread: tests are deterministic and don't fight each other for the two cores.
torch.set_num_threads(1)


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
