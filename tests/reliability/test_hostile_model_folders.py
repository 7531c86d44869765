"""A stranger's model folder is read as carefully as a stranger's checkpoint: every problem
is one line and a non-zero exit, never a traceback, a hang or a huge allocation. And an
export killed midway leaves no half folder behind."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest
from helpers.cli import run_cli
from helpers.errors import assert_clean_failure
from helpers.model_folders import export_folder, make_checkpoint
from helpers.reliability import fork_cli, wait_exit

from rnngen.atomic_files import temp_owner_pid
from rnngen.checkpoint import load_checkpoint


def _config(folder, **changes) -> None:
    doc = json.loads((folder / "config.json").read_text())
    doc.update(changes)
    (folder / "config.json").write_text(json.dumps(doc))


def _raw(name: str, text: str):
    return lambda folder, other: (folder / name).write_text(text)


def _huge_hidden(folder, other) -> None:
    text = (folder / "config.json").read_text()
    (folder / "config.json").write_text(text.replace('"hidden": 16', '"hidden": ' + "9" * 5000))


def _edit_vocab(folder, other) -> None:
    vocab = json.loads((folder / "vocab.json").read_text())
    a, b = list(vocab)[1:3]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (folder / "vocab.json").write_text(json.dumps(vocab))


def _flip_weight_byte(folder, other) -> None:
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-3] ^= 0x40
    (folder / "model.safetensors").write_bytes(bytes(data))


CASES = {
    "config not JSON": (_raw("config.json", '{"cell": '), "config.json is not valid JSON"),
    "config nested deep": (_raw("config.json", "[" * 5000 + "]" * 5000), "config.json is nested deeper"),
    "config an array": (_raw("config.json", "[1, 2]"), "config.json is not a JSON object"),
    "hidden a string": (lambda f, o: _config(f, hidden="16"), "hidden is missing or not a whole number"),
    "hidden huge": (_huge_hidden, "hidden is missing or not a whole number"),
    "layers missing": (lambda f, o: _config(f, layers=None), "layers is missing"),
    "tie a number": (lambda f, o: _config(f, tie=1), "tie is missing or not a true/false"),
    "dropout NaN": (lambda f, o: _config(f, dropout=float("nan")), "dropout is missing or not a number"),
    "newer folder format": (lambda f, o: _config(f, format_version=99), "upgrade rnngen"),
    "format_version a string": (lambda f, o: _config(f, format_version="1"), "format_version must be"),
    "not rnngen's": (lambda f, o: _config(f, model_type="gpt2"), "model_type must be"),
    "tokenizer file elsewhere": (
        lambda f, o: _config(f, tokenizer_file="../../etc/passwd"),
        "tokenizer_file must be vocab.json",
    ),
    "hidden disagrees": (lambda f, o: _config(f, hidden=32), "says hidden 32 but model.safetensors holds 16"),
    "level disagrees": (lambda f, o: _config(f, level="word"), "says level 'word'"),
    "config too big": (_raw("config.json", " " * (2 << 20) + "{}"), "larger than 1 MB"),
    "config missing": (lambda f, o: (f / "config.json").unlink(), "config.json is missing"),
    "config a FIFO": (lambda f, o: ((f / "config.json").unlink(), os.mkfifo(f / "config.json")), "not a regular file"),
    "config a folder": (lambda f, o: ((f / "config.json").unlink(), (f / "config.json").mkdir()), "not a regular file"),
    "weights missing": (lambda f, o: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
    "weights of another model": (
        lambda f, o: shutil.copy(o / "model.safetensors", f / "model.safetensors"),
        "says hidden 16 but model.safetensors holds 32",
    ),
    "weights truncated": (
        lambda f, o: os.truncate(f / "model.safetensors", 200),
        "model.safetensors is not a valid safetensors checkpoint",
    ),
    "weights bit flipped": (_flip_weight_byte, "corrupt"),
    "vocab missing": (lambda f, o: (f / "vocab.json").unlink(), "vocab.json is missing"),
    "vocab edited": (_edit_vocab, "vocab.json does not match the vocabulary"),
    "vocab nested deep": (_raw("vocab.json", '{"a":' * 3000 + "1" + "}" * 3000), "vocab.json is nested deeper"),
    "vocab too big": (lambda f, o: os.truncate(f / "vocab.json", (64 << 20) + 1), "larger than 64 MB"),
    "vocab not UTF-8": (lambda f, o: (f / "vocab.json").write_bytes(b'{"\xff": 0}'), "vocab.json is not valid JSON"),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    good = export_folder(make_checkpoint(root / "m.safetensors"), root / "good")
    other_ckpt = root / "other.safetensors"
    make_checkpoint(other_ckpt)
    ckpt = load_checkpoint(other_ckpt)  # the same vocabulary, a bigger network
    from rnngen.checkpoint import Checkpoint, save_checkpoint
    from rnngen.model import ModelConfig, RNNLanguageModel

    config = ModelConfig(cell="lstm", vocab_size=ckpt.tokenizer.vocab_size, embed=8, hidden=32, layers=2)
    save_checkpoint(other_ckpt, Checkpoint(config, ckpt.tokenizer, ckpt.train, RNNLanguageModel(config).state_dict()))
    other = export_folder(other_ckpt, root / "other")
    return good, other


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_folder_is_one_line(tmp_path, folders, case):
    good, other = folders
    folder = shutil.copytree(good, tmp_path / "hostile")
    mutate, message = CASES[case]
    mutate(folder, other)
    for command in (["sample", folder, "--length", "5"], ["info", folder]):
        assert_clean_failure(run_cli(*command, ok=False), message)


def test_a_folder_without_model_files_keeps_the_old_message(tmp_path):
    assert_clean_failure(run_cli("sample", tmp_path, ok=False), "is a folder, not a checkpoint file")


def test_bpe_tokenizer_json_that_asks_for_more_is_refused(tmp_path):
    folder = export_folder(make_checkpoint(tmp_path / "b.safetensors", "bpe"), tmp_path / "hf")
    doc = json.loads((folder / "tokenizer.json").read_text())
    doc["normalizer"] = {"type": "Lowercase"}  # would change what every text encodes to
    (folder / "tokenizer.json").write_text(json.dumps(doc))
    assert_clean_failure(run_cli("sample", folder, ok=False), "tokenizer.json does not match the vocabulary")


def _temp_folder_of(pid: int, parent) -> bool:
    return any(temp_owner_pid(name) == pid for name in os.listdir(parent))


def test_an_export_killed_midway_leaves_no_half_folder(tmp_path):
    """The export is frozen (SIGSTOP) while its temporary folder exists, then SIGKILLed: the
    target never appears, and the next export removes the leftover and succeeds."""
    ckpt = make_checkpoint(tmp_path / "m.safetensors")
    out = tmp_path / "hf"
    for _attempt in range(50):  # each attempt catches it unless the whole export slips between two polls
        pid = fork_cli(["export", ckpt, "--format", "hf", out], tmp_path / "log")
        caught = False
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if _temp_folder_of(pid, tmp_path):
                os.kill(pid, signal.SIGSTOP)
                caught = _temp_folder_of(pid, tmp_path) and not out.exists()
                os.kill(pid, signal.SIGKILL)
                assert wait_exit(pid)[1] == signal.SIGKILL
                break
        if caught:
            break
        shutil.rmtree(out, ignore_errors=True)
    assert caught, "the export was never caught with its temporary folder"
    assert not out.exists()
    leftovers = [p for p in tmp_path.iterdir() if temp_owner_pid(p.name) == pid]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".hf.tmp-")
    run_cli("export", ckpt, "--format", "hf", out)
    assert load_checkpoint(out).model_config == load_checkpoint(ckpt).model_config
    assert not [p for p in tmp_path.iterdir() if temp_owner_pid(p.name) is not None]
