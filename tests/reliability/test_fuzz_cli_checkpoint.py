"""Fuzz ``rnngen info`` and ``rnngen train --resume`` with a forger's checkpoints.

The forgeries (tests/helpers/hostile.py) start from real checkpoints trained by the CLI
(char and BPE, resumable, with a history and a plan): deep nesting and huge integers
anywhere in the header or metadata, hostile BPE tokenizer documents, ill-typed training
metadata, all resealed. Each command must succeed or fail with one ``error:`` line; a
traceback, or any exception other than the CLI's own exit, fails the test. ``info``
only fails where loading does: ill-typed training metadata is shown, not refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest
from helpers.cli import ENGLISH, TINY, run_cli
from helpers.hostile import apply, metadata_mutations, train_mutations
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

SCALE = float(os.environ.get("RNNGEN_FUZZ_SCALE", "1"))


def FUZZ(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Work(NamedTuple):
    corpus: Path
    seeds: dict[str, bytes]
    forged: Path  # where each example writes its checkpoint

    def __repr__(self) -> str:  # hypothesis shows each example's arguments: not 400 kB of bytes
        return f"Work({self.corpus.name}, seeds={sorted(self.seeds)})"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Work:
    """The corpus, and a resumable checkpoint of each level trained on it by the CLI."""
    folder = tmp_path_factory.mktemp("cli-fuzz")
    corpus = folder / "english.txt"
    corpus.write_text(ENGLISH * 12, encoding="utf-8")
    seeds = {}
    for level in ("char", "bpe"):
        out = folder / f"seed-{level}.safetensors"
        vocab = ["--vocab-size", "300"] if level == "bpe" else []
        run_cli("train", corpus, "--level", level, *vocab, "--steps", "4", "--eval-every", "2", "--out", out, *TINY)
        seeds[level] = out.read_bytes()
    return Work(corpus, seeds, folder / "forged.safetensors")


levels = st.sampled_from(["bpe", "char"])


def _one_line_or_success(result, *, codes: tuple[int, ...] = (0, 1)) -> None:
    # CliRunner catches what escapes the CLI: anything but SystemExit there is a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in codes, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    event(f"exit {result.exit_code}")  # --hypothesis-show-statistics: how often each outcome was reached
    if result.exit_code == 1:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert len(lines[0]) < 400, lines[0][:500]


@FUZZ(200)
@given(levels, metadata_mutations, st.booleans())
def test_info_on_forged_checkpoints(work, level, mutation, as_json):
    path = work.forged
    path.write_bytes(apply(work.seeds[level], mutation))
    result = run_cli("info", path, *(["--json"] if as_json else []), ok=False)
    _one_line_or_success(result)
    if mutation[0] == "train":  # ill-typed training metadata never hides the rest
        assert result.exit_code == 0, result.output


@FUZZ(80)
@given(levels, metadata_mutations | train_mutations())
def test_resume_from_forged_checkpoints(work, level, mutation):
    path = work.forged
    path.write_bytes(apply(work.seeds[level], mutation))
    result = run_cli("train", work.corpus, "--resume", path, "--steps", "5", "--threads", "1", ok=False)
    _one_line_or_success(result, codes=(0, 1, 3))  # 3: training diverged, which forged settings may cause
