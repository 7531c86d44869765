"""Issue 6, promise 5: the bad-input matrix, the cases tests/test_cli_errors.py does not cover.

Each case: a non-zero exit, one clear line on stderr, no traceback, no file touched
(except where the promise is to do something sensible: train on a short corpus, create
a missing --out folder). Together with test_cli_errors.py this is well over 25 cases.
"""

from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch
from safetensors.torch import save_file

from rnngen.checkpoint import load_checkpoint

from helpers.cli import TINY, run_cli
from helpers.reliability import clean_failure, public_tmpdir, run_cli_unprivileged
from helpers.errors import assert_clean_failure, snapshot


@pytest.fixture
def d(tmp_path):
    (tmp_path / "ok.txt").write_text("hello there, general kenobi\n" * 20)
    return tmp_path


def refuses(folder, *args, match: str):
    """Run the CLI, expect one clear error line and no change to any file in ``folder``."""
    before = snapshot(folder)
    result = run_cli(*args, ok=False)
    assert_clean_failure(result, match)
    assert snapshot(folder) == before
    return result


# ---- corpora ---------------------------------------------------------------------------


def test_mixed_encoding_corpus_names_the_line(d):
    (d / "mixed.txt").write_bytes("good UTF-8 line: naïve\n".encode() * 5 + "latin-1 line: café\n".encode("latin-1"))
    refuses(d, "train", d / "mixed.txt", "--steps", "1", match="line 6")


def test_utf16_corpus_without_the_right_encoding_is_refused(d):
    (d / "wide.txt").write_bytes("hello wide world\n".encode("utf-16-le") * 20)
    refuses(d, "train", d / "wide.txt", "--steps", "1", match="binary")


def test_unknown_encoding_option(d):
    refuses(d, "train", d / "ok.txt", "--encoding", "klingon", "--steps", "1", match="unknown text encoding")


def test_unreadable_corpus_file():
    folder = public_tmpdir()
    try:
        corpus = folder / "secret.txt"
        corpus.write_text("hello there\n" * 50)
        corpus.chmod(0)
        code, text = run_cli_unprivileged(["train", corpus, "--steps", "1", "--out", folder / "m.safetensors"], folder)
        clean_failure(code, text, "permission denied")
        assert sorted(p.name for p in folder.iterdir()) == ["secret.txt"]
    finally:
        shutil.rmtree(folder)


def test_folder_with_no_text_files(d):
    (d / "pics").mkdir()
    (d / "pics" / "a.png").write_bytes(b"\x89PNG\r\n")
    refuses(d, "train", d / "pics", "--steps", "1", match="no *.txt files")


def test_folder_of_whitespace_only_text_files(d):
    (d / "blank").mkdir()
    (d / "blank" / "a.txt").write_text("\n\n")
    (d / "blank" / "b.txt").write_text("   ")
    refuses(d, "train", d / "blank", "--steps", "1", match="empty")


def test_device_file_is_not_a_corpus(d):
    refuses(d, "train", "/dev/null", "--steps", "1", match="not a regular file")


def test_corpus_of_a_single_token_is_refused(d):
    (d / "one.txt").write_text("a")
    refuses(d, "train", d / "one.txt", "--steps", "1", "--val-frac", "0", match="at least 2")


def test_corpus_shorter_than_one_window_trains_with_a_shorter_window(d):
    (d / "short.txt").write_text("to be or not")
    out = d / "short.safetensors"
    result = run_cli("train", d / "short.txt", "--steps", "3", "--out", out, "--val-frac", "0", *TINY)
    assert "corpus is small" in result.stderr
    assert load_checkpoint(out).train["step"] == 3


def test_one_character_vocabulary_trains_and_samples(d):
    (d / "aaa.txt").write_text("a" * 200)
    out = d / "a.safetensors"
    run_cli("train", d / "aaa.txt", "--steps", "3", "--out", out, *TINY)
    assert load_checkpoint(out).tokenizer.vocab_size == 1
    assert run_cli("sample", out, "--length", "10", "--seed", "1").stdout.strip() == "a" * 10


# ---- prime text ------------------------------------------------------------------------


def test_prime_with_unknown_words_is_read_as_unk_with_a_note(word_ckpt):
    result = run_cli("sample", word_ckpt, "--prime", "Zebras quagga", "--length", "5", "--seed", "1")
    assert "not in the vocabulary" in result.stderr and "Zebras" in result.stderr
    assert result.stdout.startswith("Zebras quagga")


# ---- checkpoints -------------------------------------------------------------------------


def test_zero_byte_checkpoint_for_resume(d):
    (d / "zero.safetensors").write_bytes(b"")
    refuses(d, "train", d / "ok.txt", "--resume", d / "zero.safetensors", "--steps", "1", match="too short")


def test_bit_flip_in_the_weights_is_refused(d, char_ckpt):
    data = bytearray(char_ckpt.read_bytes())
    data[-200] ^= 0x10  # inside the tensor data: without a checksum this would load silently
    (d / "flip.safetensors").write_bytes(bytes(data))
    refuses(d, "sample", d / "flip.safetensors", match="corrupt")


def test_bit_flip_in_the_vocabulary_is_refused(d, char_ckpt):
    data = char_ckpt.read_bytes()
    at = data.index(b"\\n\\", 8)  # the newline character of the vocabulary, inside the header
    flipped = data[:at + 1] + bytes([data[at + 1] ^ 0x01]) + data[at + 2:]  # 'n' -> 'o'
    (d / "vocab.safetensors").write_bytes(flipped)
    refuses(d, "info", d / "vocab.safetensors", match=str(d / "vocab.safetensors"))


def test_bit_flip_in_the_header_length_is_refused(d, char_ckpt):
    data = bytearray(char_ckpt.read_bytes())
    data[5] ^= 0x40
    (d / "len.safetensors").write_bytes(bytes(data))
    refuses(d, "eval", d / "len.safetensors", d / "ok.txt", match="header length")


def test_non_safetensors_file_with_a_checkpoint_name(d):
    (d / "model.safetensors").write_bytes(b"PK\x03\x04" + bytes(range(200)))  # a zip (e.g. torch.save's)
    refuses(d, "sample", d / "model.safetensors", match="not a valid safetensors")


def test_foreign_safetensors_for_resume(d):
    save_file({"weight": torch.zeros(2, 2)}, str(d / "foreign.safetensors"), metadata={"format": "pt"})
    refuses(d, "train", d / "ok.txt", "--resume", d / "foreign.safetensors", "--steps", "1",
            match="not an rnngen checkpoint")


def _rewrite_metadata(src, dst, **changes):
    data = src.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header["__metadata__"].update(changes)
    raw = json.dumps(header).encode()
    dst.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])


def test_checkpoint_from_a_newer_rnngen(d, char_ckpt):
    _rewrite_metadata(char_ckpt, d / "new.safetensors", **{"rnngen.format": "99"})
    refuses(d, "sample", d / "new.safetensors", match="newer rnngen")


def test_metadata_shapes_disagree_with_the_tensors(d, char_ckpt):
    model = json.loads(load_checkpoint(char_ckpt).train and json.dumps(load_checkpoint(char_ckpt).model_config.to_json()))
    model["hidden"] = 64
    _rewrite_metadata(char_ckpt, d / "shape.safetensors", **{"rnngen.model": json.dumps(model)})
    refuses(d, "info", d / "shape.safetensors", match="shape")


def test_weights_only_checkpoint_cannot_be_resumed(d, char_ckpt):
    best = d / "best.safetensors"
    best.write_bytes(char_ckpt.with_name("char.best.safetensors").read_bytes())
    refuses(d, "train", d / "ok.txt", "--resume", best, "--steps", "40", match="weights only")


def test_missing_resume_checkpoint(d):
    refuses(d, "train", d / "ok.txt", "--resume", d / "gone.safetensors", "--steps", "1", match="does not exist")


# ---- option values -------------------------------------------------------------------------


@pytest.mark.parametrize("opts, match", [
    (["--seq-len", "0"], "--seq-len"),
    (["--batch-size", "-4"], "--batch-size"),
    (["--embed", "0"], "--embed"),
    (["--eval-every", "0"], "--eval-every"),
    (["--threads", "0"], "--threads"),
    (["--epochs", "0"], "--epochs"),
    (["--warmup", "-1"], "--warmup"),
    (["--clip", "-1"], "--clip"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "1e38"], "--lr"),  # used to crash inside AdamW (float overflow) with a traceback
    (["--time", "0s"], "--time"),
    (["--vocab-size", "100"], "--vocab-size"),
])
def test_invalid_training_option(d, opts, match):
    refuses(d, "train", d / "ok.txt", *opts, match=match)


@pytest.mark.parametrize("opts, match", [
    (["--temp", "nan"], "--temp"),
    (["--top-p", "-0.5"], "--top-p"),
    (["--top-p", "nan"], "--top-p"),
    (["--top-k", "-1"], "--top-k"),
    (["--threads", "0"], "--threads"),
])
def test_invalid_sampling_option(char_ckpt, opts, match):
    assert_clean_failure(run_cli("sample", char_ckpt, *opts, ok=False), match)


# ---- --out ---------------------------------------------------------------------------------


def test_out_onto_a_foreign_safetensors_file_is_never_overwritten(d):
    save_file({"w": torch.ones(3)}, str(d / "theirs.safetensors"))
    refuses(d, "train", d / "ok.txt", "--out", d / "theirs.safetensors", "--steps", "1",
            match="not an rnngen checkpoint")


def test_out_onto_a_folder(d):
    (d / "folder.safetensors").mkdir()
    refuses(d, "train", d / "ok.txt", "--out", d / "folder.safetensors", "--steps", "1", match="is a folder")


def test_out_into_a_missing_folder_creates_it(d):
    out = d / "new" / "deeper" / "m.safetensors"
    run_cli("train", d / "ok.txt", "--out", out, "--steps", "2", *TINY)
    assert load_checkpoint(out).train["step"] == 2


def test_out_onto_a_read_only_folder_fails_before_training():
    folder = public_tmpdir()
    try:
        (folder / "ok.txt").write_text("hello there, general kenobi\n" * 20)
        locked = folder / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        code, text = run_cli_unprivileged(
            ["train", folder / "ok.txt", "--out", locked / "m.safetensors", "--steps", "2", *TINY], folder)
        clean_failure(code, text, "cannot write checkpoints")
        assert "step" not in text.split("error:")[0]  # refused before any training step
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(folder)


def test_out_under_a_path_that_is_a_file(d):
    refuses(d, "train", d / "ok.txt", "--out", d / "ok.txt" / "m.safetensors", "--steps", "1",
            match="cannot create folder")
