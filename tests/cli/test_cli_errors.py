"""Bad input: one clear line on stderr, a non-zero exit, no traceback, no file touched."""

import os
import subprocess
import sys

import pytest
from safetensors.torch import save_file
import torch

from rnngen.checkpoint import load_checkpoint

from helpers.cli import TINY, run_cli
from helpers.errors import assert_clean_failure, snapshot


@pytest.fixture
def files(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("  \n\t\n ")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "latin1.txt").write_bytes("café au lait, crème brûlée\n".encode("latin-1") * 20)
    (tmp_path / "ok.txt").write_text("hello there, general kenobi\n" * 20)
    (tmp_path / "notes.txt").write_text("my precious notes")
    return tmp_path


@pytest.mark.parametrize("args, match", [
    (["train", "{d}/missing.txt", "--steps", "1"], "missing.txt"),
    (["train", "{d}/empty.txt", "--steps", "1"], "empty"),
    (["train", "{d}/blank.txt", "--steps", "1"], "empty"),
    (["train", "{d}/binary.bin", "--steps", "1"], "binary"),
    (["train", "{d}/latin1.txt", "--steps", "1"], "encoding"),
    (["train", "nosuchbuiltin", "--steps", "1"], "nosuchbuiltin"),
    (["train", "{d}/ok.txt", "--hidden", "-3", "--steps", "1"], "--hidden"),
    (["train", "{d}/ok.txt", "--layers", "0", "--steps", "1"], "--layers"),
    (["train", "{d}/ok.txt", "--steps", "0"], "--steps"),
    (["train", "{d}/ok.txt", "--lr", "-1", "--steps", "1"], "--lr"),
    (["train", "{d}/ok.txt", "--dropout", "1.5", "--steps", "1"], "--dropout"),
    (["train", "{d}/ok.txt", "--time", "soon"], "--time"),
    (["train", "{d}/ok.txt", "--time", "5m", "--steps", "3"], "one budget"),
    (["train", "{d}/ok.txt", "--val-frac", "1.2", "--steps", "1"], "--val-frac"),
    (["train", "{d}/ok.txt", "--tie", "--embed", "8", "--hidden", "16", "--steps", "1"], "--tie"),
    (["train", "{d}/ok.txt", "--model", "transformer"], "transformer"),
    (["train", "{d}/ok.txt", "--out", "{d}/notes.txt", "--steps", "1"], "not an rnngen checkpoint"),
    (["train", "{d}/ok.txt", "--resume", "{d}/notes.txt", "--steps", "1"], "notes.txt"),
    (["sample", "{d}/missing.safetensors"], "does not exist"),
    (["sample", "{d}/notes.txt"], "not"),
    (["sample", "{d}/empty.txt"], "too short"),
    (["eval", "{d}/notes.txt", "{d}/ok.txt"], "not"),
    (["info", "{d}/binary.bin"], "not"),
])
def test_bad_input_is_one_clear_line(files, args, match):
    before = snapshot(files)
    result = run_cli(*[a.format(d=files) for a in args], ok=False)
    assert_clean_failure(result, match)
    assert snapshot(files) == before  # nothing written, nothing changed


@pytest.mark.parametrize("opts, match", [
    (["--temp", "-1"], "--temp"),
    (["--top-p", "0"], "--top-p"),
    (["--top-p", "1.5"], "--top-p"),
    (["--top-k", "-2"], "--top-k"),
    (["--length", "-5"], "--length"),
    (["--num", "0"], "--num"),
    (["--prime", "Zebra™"], "never seen"),
])
def test_bad_sampling_options(char_ckpt, opts, match):
    assert_clean_failure(run_cli("sample", char_ckpt, *opts, ok=False), match)


def test_truncated_and_foreign_checkpoints(tmp_path, char_ckpt, english_corpus):
    truncated = tmp_path / "trunc.safetensors"
    truncated.write_bytes(char_ckpt.read_bytes()[:-500])
    assert_clean_failure(run_cli("sample", truncated, ok=False), "trunc")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(4, 4)}, str(foreign))
    assert_clean_failure(run_cli("eval", foreign, english_corpus, ok=False), "not an rnngen checkpoint")


def test_existing_checkpoint_is_not_overwritten_without_resume(tmp_path, english_corpus, char_ckpt):
    out = tmp_path / "keep.safetensors"
    out.write_bytes(char_ckpt.read_bytes())
    result = run_cli("train", english_corpus, "--steps", "2", "--out", out, *TINY, ok=False)
    assert_clean_failure(result, "--resume")
    assert out.read_bytes() == char_ckpt.read_bytes()


def test_latin1_reads_with_encoding_option(files, tmp_path):
    out = tmp_path / "l1.safetensors"
    run_cli("train", files / "latin1.txt", "--encoding", "latin-1", "--steps", "2", "--out", out, *TINY)
    vocab = load_checkpoint(out).tokenizer.vocab
    # Read as latin-1: é, è and û are characters of the vocabulary, not UTF-8 mojibake or U+FFFD.
    assert {"é", "è", "û"} <= set(vocab) and not {"Ã", "\ufffd"} & set(vocab), vocab
    assert "é" in run_cli("info", out).stdout


def test_eval_refuses_characters_the_model_never_saw(char_ckpt, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("ζζζ Greek text here")
    assert_clean_failure(run_cli("eval", char_ckpt, other, ok=False), "never saw")


def test_usage_errors_are_one_line_from_the_real_entry_point(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "rnngen")
    proc = subprocess.run([exe, "train"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: ")
    assert "CORPUS" in proc.stderr


def test_every_command_has_help_with_defaults():
    for command in (["train"], ["sample"], ["eval"], ["info"], ["corpus", "list"], ["corpus", "get"]):
        out = run_cli(*command, "--help").stdout
        assert "Usage:" in out
    assert "default: 0.8" in run_cli("sample", "--help").stdout


def test_corpus_list_and_get_from_the_command_line(tmp_path):
    listing = run_cli("corpus", "list").stdout
    assert "shakespeare" in listing and "python" in listing and "not fetched" in listing
    path = run_cli("corpus", "get", "python").stdout.strip()
    assert path.endswith("python.txt") and "# file: os.py" in open(path, encoding="utf-8").read()
    assert "python" in run_cli("corpus", "list").stdout and "MB" in run_cli("corpus", "list").stdout
    assert_clean_failure(run_cli("corpus", "get", "klingon", ok=False), "klingon")
