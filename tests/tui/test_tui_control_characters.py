"""Terminal injection in the Textual apps: a model trained on a corpus full of control characters
runs in ``rnngen tui`` and ``rnngen train --tui`` on a real pseudo-terminal, and none of its
control characters reaches the terminal raw (tokens show as ``^[``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.cli import TINY, run_cli
from helpers.terminal import TerminalSession

# Besides the control characters, the vocabulary holds only q, z, space and newline, none of which
# Textual ever writes after an ESC of its own: an ESC followed by one of these (or by another
# control) came from the model.
LINE = "qz \x1bq zz\x1bz \u009bq zq\x7fz qq\n"
MODEL_AFTER_ESC = re.compile(b"\x1b[qz \n\r\x1b\x7f\xc2]")


def assert_no_raw_model_controls(output: bytes) -> None:
    hit = MODEL_AFTER_ESC.search(output)
    assert hit is None, f"a raw ESC from the model: {output[max(0, hit.start() - 80) : hit.end() + 80]!r}"
    assert "\u009b".encode() not in output, "a raw C1 CSI from the model"
    assert b"\x7f" not in output, "a raw DEL from the model"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("controls") / "controls.txt"
    path.write_text(LINE * 150, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ckpt(corpus) -> Path:
    out = corpus.with_suffix(".safetensors")
    run_cli("train", corpus, "--steps", "20", "--out", out, *TINY)
    return out


def test_inspector_shows_control_tokens_visibly(ckpt):
    # A short path and a wide terminal, so that the status line has room for the token count.
    term = TerminalSession("tui", ckpt.name, "--seed", "1", "--length", "200", cwd=str(ckpt.parent), columns=160)
    try:
        term.wait_for(b"201 tok")  # the sample is drawn
        term.send(b"q")
        assert term.finish() == 0
    finally:
        term.close()
    assert_no_raw_model_controls(term.output)
    assert b"^[" in term.output  # the preview shows the model's ESC tokens
    assert b"^[" in term.output  # ESC tokens are drawn as ^[ in the text and the candidates


def test_training_dashboard_preview_shows_control_tokens_visibly(corpus, tmp_path):
    out = tmp_path / "dash.safetensors"
    term = TerminalSession("train", corpus, "--tui", "--steps", "40", "--eval-every", "20", "--out", out, *TINY)
    try:
        term.wait_for(b"drawn at temp", b"BUDGET")  # a preview sample is on screen, training is over
        term.send(b"q")
        assert term.finish() == 0
    finally:
        term.close()
    assert_no_raw_model_controls(term.output)
    assert b"^[" in term.output  # the preview shows the model's ESC tokens


def test_picker_shows_a_file_name_with_escapes_visibly(ckpt, tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "x\x1bq\u009bq.safetensors").write_bytes(ckpt.read_bytes())
    term = TerminalSession("tui", "--checkpoints", folder, columns=160)
    try:
        term.wait_for(b"x^[q\\x9bq.safetensors")
        term.send(b"q")
        assert term.finish() == 0
    finally:
        term.close()
    assert_no_raw_model_controls(term.output)


def test_every_line_drops_control_characters_that_slipped_through(ckpt, tmp_path):
    # The status line and the titles show the file name as it is: the apps' line filter drops its ESC.
    name = "x\x1bq\u009bq.safetensors"
    (tmp_path / name).write_bytes(ckpt.read_bytes())
    term = TerminalSession("tui", name, "--seed", "1", "--length", "20", cwd=str(tmp_path), columns=160)
    try:
        term.wait_for(b"21 tok")
        term.send(b"q")
        assert term.finish() == 0
    finally:
        term.close()
    assert_no_raw_model_controls(term.output)
    assert b"xqq.safetensors" in term.output
