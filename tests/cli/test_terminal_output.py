"""Terminal injection: a model trained on a corpus full of escape sequences, and a stranger's
checkpoint, never reach a terminal raw. On a terminal control characters are shown as ``^[``,
``^G``, ``\\x9b``...; files and pipes get the bytes unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import TINY, run_cli
from helpers.terminal import run_on_terminal

from rnngen.checkpoint import load_checkpoint, save_checkpoint
from rnngen.terminal_text import visible_controls

# ANSI colours, a window-title OSC ended by BEL, a C1 CSI (U+009B) that clears the screen, DEL.
HOSTILE_LINE = "\x1b[31mred\x1b[0m and \x1b]0;owned\x07 blue \u009b2J gone\x7f\n"
RAW_CONTROLS = [b"\x1b", b"\x07", b"\x7f", "\u009b".encode()]


def assert_no_raw_controls(output: bytes) -> None:
    for raw in RAW_CONTROLS:
        assert raw not in output, f"{raw!r} reached the terminal raw: {output[:400]!r}"


@pytest.fixture(scope="module")
def hostile_ckpt(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    corpus = folder / "escapes.txt"
    corpus.write_text(HOSTILE_LINE * 150, encoding="utf-8")
    out = folder / "escapes.safetensors"
    run_cli("train", corpus, "--steps", "20", "--out", out, *TINY)
    return out


def test_visible_controls_forms():
    assert visible_controls("a\x1b[31mb") == "a^[[31mb"
    assert visible_controls("\x00\x07\x08\x0b\x0c\r\x1f\x7f") == "^@^G^H^K^L^M^_^?"
    assert visible_controls("\u0080\u009b\u009f") == "\\x80\\x9b\\x9f"
    assert visible_controls("line\n\ttab é ✓ \u00a0") == "line\n\ttab é ✓ \u00a0"


def test_sample_on_a_terminal_shows_escapes_and_a_pipe_gets_them_raw(hostile_ckpt):
    args = ["sample", hostile_ckpt, "--length", "400", "--temp", "1", "--seed", "1"]
    code, shown = run_on_terminal(*args)
    assert code == 0, shown
    piped = subprocess.run([sys.executable, "-m", "rnngen", *map(str, args)], capture_output=True, check=True)
    assert b"\x1b" in piped.stdout, "the model should emit ESC (it was trained on a corpus full of them)"
    assert_no_raw_controls(shown)
    assert b"^[" in shown
    # The same sample, made visible, and nothing else.
    assert shown == visible_controls(piped.stdout.decode()).encode()


def test_sample_prime_and_several_samples_on_a_terminal(hostile_ckpt):
    code, shown = run_on_terminal(
        "sample", hostile_ckpt, "--length", "200", "--temp", "1", "--seed", "2", "--num", "3", "--prime", "\x1b[2J"
    )
    assert code == 0, shown
    assert_no_raw_controls(shown)
    assert shown.startswith(b"^[[2J")


def test_inspect_on_a_terminal(hostile_ckpt):
    code, shown = run_on_terminal("inspect", hostile_ckpt, "--text", HOSTILE_LINE * 2, "--top-k", "20")
    assert code == 0, shown
    assert_no_raw_controls(shown)
    assert b"next token after" in shown


def test_inspect_json_escapes_every_control(hostile_ckpt):
    code, shown = run_on_terminal("inspect", hostile_ckpt, "--text", HOSTILE_LINE * 2, "--json")
    assert code == 0, shown
    assert_no_raw_controls(shown)
    doc = json.loads(shown)
    assert "".join(doc["tokens"]) == HOSTILE_LINE * 2


def test_info_on_a_terminal_with_hostile_metadata(hostile_ckpt, tmp_path):
    loaded = load_checkpoint(hostile_ckpt)
    loaded.train["plan"] = {"summary": "plan \x1b]0;owned\x07 \u009b2J"}
    loaded.train["history"] = [{"step": "\x1b[2J", "train_loss": 1.0, "val_loss": None, "val_bpc": None}]
    forged = tmp_path / "forged.safetensors"
    save_checkpoint(forged, loaded)
    code, shown = run_on_terminal("info", forged)
    assert code == 0, shown
    assert_no_raw_controls(shown)
    assert b"plan ^[]0;owned^G \\x9b2J" in shown
    assert b"vocabulary" in shown


def test_error_line_on_a_terminal(tmp_path):
    code, shown = run_on_terminal("sample", tmp_path / "x\x1b[2Jy.safetensors")
    assert code == 1
    assert_no_raw_controls(shown)
    assert shown.startswith(b"error: ") and b"x^[[2Jy" in shown
