"""A char checkpoint trained long enough that its greedy text depends on the prompt (the
30-step fixtures say "eeee" after anything), so tests can tell one prompt's rows from another's."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import run_cli

TRAINED = ["--hidden", "32", "--embed", "16", "--layers", "1", "--seq-len", "32", "--batch-size", "8",
           "--threads", "1", "--seed", "3", "--lr", "0.01", "--steps", "300"]  # fmt: skip


@pytest.fixture(scope="session")
def talking_ckpt(tmp_path_factory, english_corpus) -> Path:
    out = tmp_path_factory.mktemp("served") / "talking.safetensors"
    run_cli("train", english_corpus, "--out", out, *TRAINED)
    return out
