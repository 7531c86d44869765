"""Word level from two passes on trains with plain SGD (word_language_model's recipe): the
planner's choice, its start, its checkpoints and their resume."""

from __future__ import annotations

import torch
from helpers.cli import TINY, run_cli
from helpers.errors import assert_clean_failure, snapshot

from rnngen.checkpoint import OPTIM_PREFIX, load_checkpoint, save_checkpoint
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.planner import default_optimizer, plan, rechecked_dropout
from rnngen.training import TrainConfig

WORDS = ["--level", "word", *TINY]


def word_plan(config: TrainConfig, train_tokens: int = 263_000):
    return plan(config, train_tokens=train_tokens, val_tokens=30_000, vocab=14_300, gpu=False, speed=None)


def test_word_level_takes_sgd_from_two_passes_and_enough_steps():
    long, p = word_plan(TrainConfig(level="word", epochs=5))
    assert (long.optimizer, long.lr, long.clip, long.dropout, long.tie) == ("sgd", 20.0, 0.25, 0.2, True)
    assert "SGD lr 20 clip 0.25, tied" in p.summary and {"optimizer", "clip", "tie"} <= set(p.chosen)
    one_pass, _ = word_plan(TrainConfig(level="word", epochs=1))
    assert (one_pass.optimizer, one_pass.lr, one_pass.clip, one_pass.tie) == ("adamw", 3e-3, 1.0, False)
    # Many passes over a tiny text, but only ~30 steps: SGD would still be learning word frequencies.
    tiny, _ = word_plan(TrainConfig(level="word", epochs=3), train_tokens=7_000)
    assert tiny.optimizer == "adamw"
    chars, _ = plan(TrainConfig(epochs=20), train_tokens=263_000, val_tokens=30_000, vocab=65, gpu=False, speed=None)
    assert chars.optimizer == "adamw" and chars.clip == 1.0 and chars.tie is False
    assert default_optimizer("bpe", 50, 10_000) == "adamw"


def test_explicit_optimizer_and_clip_override_the_plan():
    adamw, _ = word_plan(TrainConfig(level="word", epochs=5, optimizer="adamw"))
    assert (adamw.optimizer, adamw.lr, adamw.clip) == ("adamw", 3e-3, 1.0)
    sgd, _ = word_plan(TrainConfig(level="word", epochs=5, clip=0.5, lr=5.0, dropout=0.4, tie=False))
    assert (sgd.optimizer, sgd.lr, sgd.clip, sgd.dropout, sgd.tie) == ("sgd", 5.0, 0.5, 0.4, False)
    # Tying needs the embedding as wide as the cell: a narrower one given keeps them apart.
    narrow, _ = word_plan(TrainConfig(level="word", epochs=5, embed=100))
    assert narrow.optimizer == "sgd" and narrow.tie is False
    # The run's own speed never moves SGD's dropout off word_language_model's 0.2.
    assert rechecked_dropout(0.2, 40.0, "sgd") is None and rechecked_dropout(0.0, 1.0, "sgd") == 0.2


def test_the_sgd_start_is_word_language_models():
    model = RNNLanguageModel(ModelConfig(vocab_size=50, embed=8, hidden=8, layers=2))
    model.init_output_bias(torch.arange(50.0))
    model.init_for_sgd()
    assert torch.count_nonzero(model.head.bias) == 0  # no unigram bias: SGD stalled on it
    for weight in (model.embedding.weight, model.head.weight):
        assert weight.abs().max() <= 0.1 and weight.std() > 0.03
    forget = model.rnn.bias_ih_l0[8:16]
    assert forget.abs().max() < 1.0  # the cell's own start, no forget-gate bias of 1


def test_an_sgd_run_saves_no_moments_and_resumes(tmp_path, english_corpus):
    out = tmp_path / "m.safetensors"
    result = run_cli("train", english_corpus, *WORDS, "--optimizer", "sgd", "--steps", "6", "--out", out)
    assert "SGD lr 20 clip 0.25" in result.output
    first = load_checkpoint(out)
    assert first.resumable and not any(k.startswith(OPTIM_PREFIX) for k in first.tensors)
    assert first.train["config"]["optimizer"] == "sgd" and first.train["config"]["clip"] == 0.25
    assert torch.count_nonzero(first.tensors["head.bias"]) > 0  # trained, from a zero start

    run_cli("train", english_corpus, *WORDS, "--resume", out, "--steps", "9")
    resumed = load_checkpoint(out)
    assert resumed.train["step"] == 9 and resumed.train["config"]["optimizer"] == "sgd"

    before = snapshot(tmp_path)
    refused = run_cli("train", english_corpus, *WORDS, "--resume", out, "--steps", "12", "--optimizer", "adamw",
                      ok=False)
    assert_clean_failure(refused, "the optimizer cannot change on resume")
    assert snapshot(tmp_path) == before


def test_a_checkpoint_from_before_sgd_resumes_with_adamw(tmp_path, english_corpus):
    out = tmp_path / "old.safetensors"
    run_cli("train", english_corpus, *WORDS, "--steps", "4", "--out", out)
    ckpt = load_checkpoint(out)
    assert ckpt.train["config"]["optimizer"] == "adamw"
    del ckpt.train["config"]["optimizer"]  # what an earlier rnngen wrote
    save_checkpoint(out, ckpt)
    run_cli("train", english_corpus, *WORDS, "--resume", out, "--steps", "6")
    resumed = load_checkpoint(out)
    assert resumed.train["step"] == 6 and resumed.train["config"]["optimizer"] == "adamw"
    assert any(k.startswith(OPTIM_PREFIX) for k in resumed.tensors)
