"""Issue 16, item 4: ``--log-jsonl`` never truncates an existing log.

A fresh run onto a log that holds something is refused before it trains (the log may
belong to another run); resuming a run appends to its log.
"""

from __future__ import annotations

import json

import pytest
from helpers.cli import TINY, run_cli

import rnngen
from rnngen.errors import RnngenError

OLD = '{"step": 1, "loss": 3.0}\n{"step": 2, "loss": 2.9}\n'


def test_a_fresh_run_refuses_a_log_that_holds_something(tmp_path, english_corpus):
    out, log = tmp_path / "m.safetensors", tmp_path / "m.jsonl"
    log.write_text(OLD)
    result = run_cli("train", english_corpus, "--steps", "2", "--out", out, "--log-jsonl", log, *TINY, ok=False)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --log-jsonl ") and "already holds" in lines[0], lines
    assert log.read_text() == OLD  # not a byte lost
    assert not out.exists()  # refused before training
    with pytest.raises(RnngenError, match="already holds"):
        rnngen.train(english_corpus, out=out, log_jsonl=log, steps=2, hidden=8, threads=1)
    assert log.read_text() == OLD


def test_an_empty_log_is_used_and_a_resume_appends(tmp_path, english_corpus):
    out, log = tmp_path / "m.safetensors", tmp_path / "m.jsonl"
    log.touch()
    run_cli("train", english_corpus, "--steps", "2", "--out", out, "--log-jsonl", log, *TINY)
    first = log.read_text()
    assert [json.loads(line)["step"] for line in first.splitlines()] == [1, 2]
    run_cli("train", english_corpus, "--resume", out, "--steps", "4", "--log-jsonl", log, "--threads", "1")
    text = log.read_text()
    assert text.startswith(first)
    assert [json.loads(line)["step"] for line in text.splitlines()] == [1, 2, 3, 4]
