"""rnngen sample --novelty CORPUS: the copy report on stderr, the samples untouched on stdout."""

from __future__ import annotations

import json

from helpers.cli import run_cli


def test_sample_novelty_reports_each_sample_on_stderr(char_ckpt, english_corpus):
    plain = run_cli("sample", char_ckpt, "--num", 2, "--length", 40, "--seed", 5)
    checked = run_cli("sample", char_ckpt, "--num", 2, "--length", 40, "--seed", 5, "--novelty", english_corpus)
    assert checked.stdout == plain.stdout  # the samples are the same, and stdout holds only them
    assert "sample 1: " in checked.stderr and "sample 2: " in checked.stderr
    assert "longest shared stretch" in checked.stderr
    streamed = run_cli("sample", char_ckpt, "--length", 40, "--seed", 5, "--novelty", english_corpus)
    assert "sample 1: " in streamed.stderr and "sample 2" not in streamed.stderr  # one sample, streamed


def test_sample_novelty_with_jsonl_gives_json(char_ckpt, english_corpus):
    result = run_cli("sample", char_ckpt, "--length", 30, "--seed", 1, "--format", "jsonl", "--novelty", english_corpus)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    sample = json.loads(result.stdout.strip().splitlines()[0])["text"]
    (only,) = report["samples"]
    assert only["chars"] == len(sample) and only["longest"]["text"] in sample


def test_sample_novelty_refuses_an_unreadable_corpus(char_ckpt, tmp_path):
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    for corpus in (tmp_path / "missing.txt", binary):
        result = run_cli("sample", char_ckpt, "--novelty", corpus, ok=False)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: --novelty:"), result.output
