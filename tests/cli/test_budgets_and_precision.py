"""--epochs, --eval-tokens and --precision, end to end: what each does to a real run.

Precision is tested without depending on the CPU: the rule (``precision_dtype``) takes the
hardware probe's answer as an input and is checked for both answers; the real run is then
checked against what the real probe says about this machine.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers.cli import TINY, run_cli
from helpers.errors import assert_clean_failure

from rnngen.checkpoint import load_checkpoint
from rnngen.corpus import load_corpus
from rnngen.data import split_point
from rnngen.errors import RnngenError
from rnngen.evaluation import evaluate
from rnngen.training import TrainConfig, Trainer
from rnngen.training.setup import bf16_supported, precision_dtype

BATCH, SEQ = 4, 16  # TINY's --batch-size and --seq-len


def _train_tokens(corpus) -> int:
    text = corpus.read_text(encoding="utf-8")
    return split_point(text, 0.1)  # char level: one token per character before the validation tail


def test_epochs_train_that_many_passes_over_the_training_text(tmp_path, english_corpus):
    out = tmp_path / "e.safetensors"
    run_cli("train", english_corpus, "--epochs", "1.3", "--out", out, *TINY)
    train = load_checkpoint(out).train
    n = _train_tokens(english_corpus)
    windows_per_epoch = (n // BATCH - 1) // SEQ  # BATCH streams, each cut into SEQ-token windows
    assert (1.3 * windows_per_epoch) % 1  # a part-epoch at the end: it is rounded up to a whole step
    assert train["train_tokens"] == n
    assert train["step"] == math.ceil(1.3 * windows_per_epoch)
    assert train["tokens_seen"] == train["step"] * BATCH * SEQ
    assert train["config"]["epochs"] == 1.3


def test_eval_tokens_evaluates_on_a_prefix_of_the_validation_text(tmp_path, english_corpus):
    out = tmp_path / "v.safetensors"
    run_cli("train", english_corpus, "--steps", "6", "--eval-tokens", "100", "--precision", "fp32", "--out", out, *TINY)
    ckpt = load_checkpoint(out)
    assert ckpt.train["config"]["eval_tokens"] == 100
    text = english_corpus.read_text(encoding="utf-8")
    val_ids = ckpt.tokenizer.encode(text[split_point(text, 0.1) :])
    assert val_ids.size > 300  # so the prefix is a real cut
    model = ckpt.build_model()
    prefix = evaluate(model, val_ids[:100], 100, batch_size=32, seq_len=128).loss
    whole = evaluate(model, val_ids, val_ids.size, batch_size=32, seq_len=128).loss
    assert abs(prefix - whole) > 1e-3  # the two differ, so the check below can tell them apart
    assert ckpt.train["history"][-1]["val_loss"] == pytest.approx(prefix, abs=1e-4)


# ---- --precision --------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_precision_rule_for_both_probe_answers(device):
    for supported in (True, False):
        assert precision_dtype("fp32", device, supported) is None
        assert precision_dtype("auto", device, supported) == (torch.bfloat16 if supported else None)
    assert precision_dtype("bf16", device, True) == torch.bfloat16
    with pytest.raises(RnngenError) as err:
        precision_dtype("bf16", device, False)
    assert str(err.value) == f"precision bf16 is not supported on this {device.upper()}"


def test_fp32_trains_on_any_machine_without_autocast(tmp_path, english_corpus):
    config = TrainConfig(
        **{
            "cell": "lstm",
            "hidden": 16,
            "embed": 8,
            "layers": 1,
            "seq_len": 16,
            "batch_size": 4,
            "threads": 1,
            "seed": 3,
            "steps": 2,
            "precision": "fp32",
        }
    )
    trainer = Trainer(config, load_corpus(str(english_corpus)), out=tmp_path / "f.safetensors")
    assert trainer.amp_dtype is None
    assert trainer.run().reason == "budget"


def test_bf16_and_auto_follow_this_machines_probe(tmp_path, english_corpus):
    """bf16 trains where the probe finds support and is one line (exit 1) where it does not; auto
    autocasts exactly where the probe finds support. Both branches are the same code as above."""
    supported = bf16_supported(torch.device("cpu"))
    corpus = load_corpus(str(english_corpus))
    base = {
        "cell": "lstm",
        "hidden": 16,
        "embed": 8,
        "layers": 1,
        "seq_len": 16,
        "batch_size": 4,
        "threads": 1,
        "seed": 3,
        "steps": 2,
        "device": "cpu",
    }
    auto = Trainer(TrainConfig(**base, precision="auto"), corpus, out=tmp_path / "a.safetensors")
    assert auto.amp_dtype == (torch.bfloat16 if supported else None)
    auto.run()
    out = tmp_path / "b.safetensors"
    result = run_cli(
        "train",
        english_corpus,
        "--precision",
        "bf16",
        "--device",
        "cpu",
        "--steps",
        "2",
        "--out",
        out,
        *TINY,
        ok=supported,
    )
    if supported:
        assert load_checkpoint(out).train["step"] == 2
    else:
        assert_clean_failure(result, "--precision bf16 is not supported on this CPU")
        assert not out.exists()
