"""rnngen train NEW --init-from CKPT: fine-tuning on a new corpus whose alphabet grew."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
from helpers.cli import run_cli

from rnngen.checkpoint import load_checkpoint
from rnngen.config import train_config
from rnngen.corpus import load_corpus
from rnngen.errors import RnngenError
from rnngen.training import Trainer

NEW_TEXT = "ÆØÅ zebra quiz! ÆØÅ zebra quiz!\n" * 80  # Æ Ø Å b q ! are not in the English corpus
FAST = ["--threads", "1", "--seq-len", "16", "--batch-size", "4", "--seed", "3"]


@pytest.fixture
def new_text(tmp_path):
    path = tmp_path / "new.txt"
    path.write_text(NEW_TEXT, encoding="utf-8")
    return path


def test_new_characters_grow_the_vocabulary_and_the_rest_is_kept(char_ckpt, new_text, tmp_path):
    parent = load_checkpoint(char_ckpt)
    config, explicit = train_config({"steps": 5, "threads": 1, "seq_len": 16, "batch_size": 4})
    trainer = Trainer(
        config, load_corpus(str(new_text)), out=tmp_path / "c.safetensors", explicit=explicit, init_from=char_ckpt
    )
    try:
        old_vocab = parent.tokenizer.vocab
        new_vocab = trainer.tokenizer.vocab
        assert new_vocab[: len(old_vocab)] == old_vocab
        added = set(new_vocab[len(old_vocab) :])
        assert added == set(NEW_TEXT) - set(old_vocab) and {"Æ", "Ø", "Å", "q"} <= added
        v = len(old_vocab)
        child = trainer.model.state_dict()
        for name, tensor in parent.build_model().state_dict().items():
            kept = child[name][:v] if name in ("embedding.weight", "head.weight", "head.bias") else child[name]
            assert torch.equal(kept, tensor), name
        # New output rows start at the new text's log frequency (add-one smoothed, as a fresh run does).
        counts = torch.bincount(torch.from_numpy(trainer.train_split.ids.astype("int64")), minlength=len(new_vocab))
        expected = torch.log((counts.double() + 1) / (counts.sum() + len(new_vocab)))
        assert torch.allclose(child["head.bias"][v:].double(), expected[v:], atol=1e-5)
        assert trainer.step == 0 and trainer.history == []  # a fresh clock, unlike --resume
    finally:
        trainer.checkpoint_lock.release()


def test_init_from_trains_and_samples_the_new_characters(char_ckpt, new_text, tmp_path):
    out = tmp_path / "child.safetensors"
    run_cli("train", new_text, "--init-from", char_ckpt, *FAST, "--steps", 150, "--lr", "0.01", "--out", out)
    child = load_checkpoint(out)
    assert child.train["step"] == 150 and math.isfinite(child.train["history"][-1]["train_loss"])
    parent_info = child.train["parent"]
    assert parent_info == {
        "path": str(char_ckpt),
        "sha256": hashlib.sha256(char_ckpt.read_bytes()).hexdigest(),
        "steps": load_checkpoint(char_ckpt).train["step"],
    }
    sample = run_cli("sample", out, "--length", 200, "--seed", 1).output
    assert {"Æ", "Ø", "Å", "z", "q"} & set(sample)
    assert "parent       " in run_cli("info", out).output


def test_word_level_grows_new_words(word_ckpt, tmp_path):
    text = tmp_path / "words.txt"
    text.write_text("Zebras quizzically proceed. First Citizen: zebras!\n" * 30, encoding="utf-8")
    out = tmp_path / "w.safetensors"
    run_cli("train", text, "--init-from", word_ckpt, *FAST, "--steps", 5, "--out", out)
    parent, child = load_checkpoint(word_ckpt), load_checkpoint(out)
    old = parent.tokenizer.vocab
    assert child.tokenizer.vocab[: len(old)] == old
    assert {"Zebras", "quizzically", "zebras"} <= set(child.tokenizer.vocab[len(old) :])


def _refused(*args):
    result = run_cli(*args, ok=False)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


@pytest.mark.parametrize(
    ("option", "value"),
    [("--hidden", "64"), ("--layers", "2"), ("--model", "gru"), ("--level", "word"), ("--embed", "4")],
)
def test_shape_options_that_contradict_the_parent_are_refused(char_ckpt, new_text, option, value):
    line = _refused("train", new_text, "--init-from", char_ckpt, option, value, "--steps", 5)
    assert option in line and "contradicts the --init-from checkpoint's" in line


def test_init_from_with_resume_is_refused(char_ckpt, new_text):
    assert "not both" in _refused("train", new_text, "--init-from", char_ckpt, "--resume", char_ckpt, "--steps", 5)


def test_foreign_files_are_refused(new_text, tmp_path):
    from safetensors.torch import save_file

    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(bare))  # weights only: no rnngen metadata
    assert "not an rnngen checkpoint" in _refused("train", new_text, "--init-from", bare, "--steps", 5)
    assert "not a valid safetensors checkpoint" in _refused("train", new_text, "--init-from", new_text, "--steps", 5)
    missing = tmp_path / "missing.safetensors"
    assert "does not exist" in _refused("train", new_text, "--init-from", missing, "--steps", 5)


def test_the_api_refuses_init_from_with_resume(char_ckpt, new_text, tmp_path):
    config, explicit = train_config({"steps": 5})
    with pytest.raises(RnngenError, match="not both"):
        Trainer(
            config,
            load_corpus(str(new_text)),
            out=tmp_path / "x.safetensors",
            resume=char_ckpt,
            init_from=char_ckpt,
            explicit=explicit,
        )
