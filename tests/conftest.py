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


@pytest.fixture(scope="session", autouse=True)
def _session_rnngen_home(tmp_path_factory):
    """Nothing a test runs touches the real user cache (~/.cache/rnngen), not even the session
    and module fixtures, which are built before a test's own folder (below) exists."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RNNGEN_CORPORA", raising=False)  # it would outrank RNNGEN_HOME
        patch.setenv("RNNGEN_HOME", str(tmp_path_factory.mktemp("rnngen-home")))
        yield


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
    monkeypatch.delenv("RNNGEN_CORPORA", raising=False)  # it would outrank RNNGEN_HOME
    monkeypatch.setenv("RNNGEN_HOME", str(tmp_path / "rnngen-home"))
    yield
