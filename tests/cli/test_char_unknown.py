"""A character the vocabulary lacks, at char level: refused in one line by every command that
reads text with a trained char model; and a char vocabulary that holds <unk> (a checkpoint
may carry one) reads such characters as <unk> everywhere, eval included."""

from __future__ import annotations

import json

import pytest
import torch
from helpers.cli import ENGLISH, TINY, run_cli
from helpers.errors import assert_clean_failure

from rnngen.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.tokenizers import UNK, CharTokenizer

NEW = "Ω"  # in no corpus of these tests


@pytest.fixture()
def own_ckpt(tmp_path, char_ckpt):
    """A copy of the session's char checkpoint this test may resume."""
    path = tmp_path / "own.safetensors"
    path.write_bytes(char_ckpt.read_bytes())
    return path


@pytest.mark.parametrize(
    "command",
    ["sample", "inspect", "eval", "tui", "resume"],
)
def test_a_character_the_vocabulary_lacks_is_one_line_naming_it(tmp_path, own_ckpt, command):
    text = tmp_path / "new.txt"
    text.write_text(ENGLISH + f"The {NEW}mega.\n", encoding="utf-8")
    args = {
        "sample": ["sample", own_ckpt, "--prime", f"Ah {NEW}", "--length", "5"],
        "inspect": ["inspect", own_ckpt, "--text", f"Ah {NEW}"],
        "eval": ["eval", own_ckpt, text],
        "tui": ["tui", own_ckpt, "--prompt", f"Ah {NEW}"],
        "resume": ["train", text, "--resume", own_ckpt, "--steps", "40", *TINY],
    }[command]
    # (A --val-file's characters join the vocabulary of a fresh run, tests/cli/test_val_file.py, and
    # a resumed run cannot change its validation file: there is no third way in.)
    before = own_ckpt.read_bytes()
    result = run_cli(*args, ok=False)
    assert_clean_failure(result, "never s")  # "never seen" / "never saw"
    assert NEW in result.stderr
    assert own_ckpt.read_bytes() == before


def _char_ckpt_with_unk(path, text: str):
    tokenizer = CharTokenizer([*CharTokenizer.fit(text).vocab, UNK])
    torch.manual_seed(0)
    config = ModelConfig(cell="lstm", vocab_size=tokenizer.vocab_size, embed=8, hidden=16, layers=1)
    model = RNNLanguageModel(config)
    save_checkpoint(path, Checkpoint(config, tokenizer, {"step": 0, "history": []}, dict(model.state_dict())))
    return path


def test_a_char_vocabulary_with_unk_reads_unknown_characters_as_unk(tmp_path):
    ckpt = _char_ckpt_with_unk(tmp_path / "unk.safetensors", ENGLISH)
    unk_id = load_checkpoint(ckpt).tokenizer.unk_id
    assert unk_id is not None

    sampled = run_cli("sample", ckpt, "--prime", f"Ah {NEW}", "--length", "5", "--seed", "1")
    assert sampled.stdout.startswith(f"Ah {NEW}")

    doc = json.loads(run_cli("inspect", ckpt, "--text", f"Ah {NEW} ok", "--json").stdout)
    assert doc["tokens"] == ["A", "h", " ", UNK, " ", "o", "k"]

    text = tmp_path / "new.txt"
    text.write_text(f"Ah {NEW}{NEW} ok\n", encoding="utf-8")
    scored = json.loads(run_cli("eval", ckpt, text, "--json").stdout)
    assert scored["tokens"] == len(text.read_text(encoding="utf-8")) - 1  # every next character, Ω as <unk>
