"""rnngen inspect end to end: the summary, the --json record, and one-line errors."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from helpers.inspector import TEXT, save_tiny

from rnngen.cli import cli
from rnngen.model import GATE_NAMES


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inspect-ckpts")
    return {
        "lstm": save_tiny(folder / "lstm.safetensors", "lstm"),
        "gru": save_tiny(folder / "gru.safetensors", "gru", layers=1),
        "rnn": save_tiny(folder / "rnn.safetensors", "rnn"),
        "word": save_tiny(folder / "word.safetensors", "gru", level="word", layers=1),
    }


def strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"non-finite number {name} in --json output")

    return json.loads(text, parse_constant=refuse)


def numbers(doc):
    if isinstance(doc, bool) or doc is None or isinstance(doc, str):
        return
    if isinstance(doc, (int, float)):
        yield doc
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from numbers(v)
    else:
        for v in doc:
            yield from numbers(v)


def test_summary_reads_like_a_report(ckpts):
    result = invoke("inspect", ckpts["lstm"], "--text", "ROMEO:\nBut soft, what light")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in ("LSTM 2x24, char level", "window       27 tokens", "loss", "next token after",
                     "least expected tokens", "layer 1 of 2", "layer 2 of 2", "most active units",
                     "forget  gate", "||dL/dh_1|| / ||dL/dh_26||", "per step back", "(log scale"):
        assert expected in out, expected
    assert result.stderr == ""


def test_summary_on_a_trained_checkpoint(char_ckpt):
    result = invoke("inspect", char_ckpt, "--text", "First Citizen:\nBefore we proceed")
    assert result.exit_code == 0, result.output
    assert "gradient" in result.stdout and "layer 1 of 1" in result.stdout


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_json_record_is_complete_and_finite(ckpts, cell):
    text = "JULIET:\n\"O Romeo, Romeo\""
    result = invoke("inspect", ckpts[cell], "--text", text, "--json", "--top-k", "3")
    assert result.exit_code == 0, result.output
    doc = strict_json(result.stdout)
    T = len(text)
    layers = 1 if cell == "gru" else 2
    assert doc["tokens"] == list(text)
    assert len(doc["hidden"]) == layers and all(len(h) == T and len(h[0]) == 24 for h in doc["hidden"])
    assert ("cell" in doc) == (cell == "lstm")
    assert [list(g) for g in doc["gates"]] == [list(GATE_NAMES[cell])] * layers
    assert len(doc["top_k"]) == T and all(len(row) == 3 for row in doc["top_k"])
    assert all(isinstance(tok, str) and 0 <= p <= 1 for row in doc["top_k"] for tok, p in row)
    assert len(doc["grad_through_time"]) == layers and all(len(g) == T for g in doc["grad_through_time"])
    assert doc["grad_through_time"][0][-1] == 0.0 and doc["grad_through_time"][-1][-2] > 0
    assert doc["loss"] == "last" and doc["loss_value"] > 0
    assert all(math.isfinite(x) for x in numbers(doc))


def test_json_from_file_with_mean_loss_and_window(ckpts, tmp_path):
    body = tmp_path / "scene.txt"
    body.write_text(TEXT, encoding="utf-8")
    result = invoke("inspect", ckpts["rnn"], "--file", body, "--json", "--loss", "mean", "--max-tokens", "40")
    assert result.exit_code == 0, result.output
    doc = strict_json(result.stdout)
    assert doc["loss"] == "mean" and doc["offset"] == len(TEXT) - 40
    assert "".join(doc["tokens"]) == TEXT[-40:]
    assert all(v > 0 for v in doc["grad_through_time"][1][:-1])


def test_word_level_reads_unknown_words_as_unk(ckpts):
    result = invoke("inspect", ckpts["word"], "--text", "ROMEO: what zebra light", "--json")
    assert result.exit_code == 0, result.output
    doc = strict_json(result.stdout)
    assert doc["tokens"] == ["ROMEO", ":", "what", "<unk>", "light"]
    assert doc["unknown"] == ["zebra"]
    assert "zebra" in result.stderr and "<unk>" in result.stderr


def test_a_single_token_works(ckpts):
    result = invoke("inspect", ckpts["lstm"], "--text", "R")
    assert result.exit_code == 0, result.output
    assert "none (the window needs at least 2 tokens)" in result.stdout
    doc = strict_json(invoke("inspect", ckpts["lstm"], "--text", "R", "--json").stdout)
    assert doc["loss_value"] is None and doc["token_probs"] == [None]


def assert_one_line_error(result, match: str):
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and match.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, match", [
    ([], "exactly one of --text or --file"),
    (["--text", "ab", "--file", "{d}/x.txt"], "exactly one of --text or --file"),
    (["--text", ""], "empty"),
    (["--text", "ROMEO€"], "never seen"),
    (["--file", "{d}/missing.txt"], "does not exist"),
    (["--file", "{d}/empty.txt"], "empty"),
    (["--file", "{d}"], "folder"),
    (["--file", "{d}/latin1.txt"], "utf-8"),
    (["--text", "ab", "--top-k", "0"], "--top-k"),
    (["--text", "ab", "--max-tokens", "0"], "--max-tokens"),
    (["--text", "ab", "--loss", "first"], "first"),
])
def test_bad_input_is_one_line(ckpts, tmp_path, args, match):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes("crème brûlée".encode("latin-1"))
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    assert_one_line_error(invoke("inspect", ckpts["lstm"], *args), match)


@pytest.mark.parametrize("make, match", [
    (lambda d: d / "missing.safetensors", "does not exist"),
    (lambda d: (d / "notes.txt").write_text("not a model") and d / "notes.txt", "not"),
    (lambda d: d, "folder"),
])
def test_bad_checkpoint_is_one_line(tmp_path, make, match):
    assert_one_line_error(invoke("inspect", make(tmp_path), "--text", "ab"), match)


def test_tui_refuses_bad_arguments_before_starting(ckpts, tmp_path):
    assert_one_line_error(invoke("tui", tmp_path / "missing.safetensors"), "does not exist")
    assert_one_line_error(invoke("tui", ckpts["lstm"], "--prompt", "€uro"), "never seen")
    assert_one_line_error(invoke("tui", ckpts["lstm"], "--length", "0"), "--length")


def test_help_documents_the_json_keys():
    result = invoke("inspect", "--help")
    assert result.exit_code == 0
    for key in ("tokens", "hidden", "cell", "gates", "top_k", "grad_through_time"):
        assert key in result.output
