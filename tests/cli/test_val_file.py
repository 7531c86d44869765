"""--val-file: validate on a separate text; and the per-step extras only the dashboard wants."""

from __future__ import annotations

import numpy as np

from rnngen.checkpoint import load_checkpoint
from rnngen.corpus import load_corpus
from rnngen.evaluation import evaluate
from rnngen.training import StepEvent, TrainConfig, Trainer

from helpers.cli import ENGLISH, TINY, run_cli


def test_val_file_trains_on_the_whole_corpus_and_validates_on_the_file(tmp_path, english_corpus):
    val = tmp_path / "val.txt"
    val.write_text("Speak, speak. You are all resolved.\n" * 8, encoding="utf-8")
    out = tmp_path / "m.safetensors"
    run_cli("train", english_corpus, "--val-file", val, "--steps", "4", "--out", out, *TINY)
    ckpt = load_checkpoint(out)
    train = ckpt.train
    corpus_chars = len(english_corpus.read_text(encoding="utf-8"))
    assert train["train_tokens"] == corpus_chars  # nothing held out of the corpus
    assert train["val_tokens"] == len(val.read_text(encoding="utf-8"))
    assert train["config"]["val_file"] == str(val)
    # The recorded validation loss is the file's, as `rnngen eval` measures it.
    model = ckpt.build_model()
    ids = ckpt.tokenizer.encode(val.read_text(encoding="utf-8"))
    expected = evaluate(model, ids, ids.size, batch_size=32, seq_len=128).loss
    assert abs(train["history"][-1]["val_loss"] - expected) < 1e-4


def test_val_file_characters_join_the_vocabulary(tmp_path, english_corpus):
    val = tmp_path / "val.txt"
    val.write_text("Zebras quiz ~ jovial {folk}\n" * 4, encoding="utf-8")
    out = tmp_path / "m.safetensors"
    run_cli("train", english_corpus, "--val-file", val, "--steps", "2", "--out", out, *TINY)
    vocab = load_checkpoint(out).tokenizer.vocab
    assert "~" in vocab and "{" in vocab


def test_val_file_errors_are_one_line(tmp_path, english_corpus):
    out = tmp_path / "m.safetensors"
    result = run_cli("train", english_corpus, "--val-file", tmp_path / "missing.txt", "--steps", "2",
                     "--out", out, *TINY, ok=False)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "missing.txt" in lines[-1] and "Traceback" not in result.output
    assert not out.exists()
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    result = run_cli("train", english_corpus, "--val-file", empty, "--steps", "2", "--out", out, *TINY, ok=False)
    assert "validation file" in result.output and not out.exists()


def test_val_file_cannot_change_on_resume(tmp_path, english_corpus):
    val = tmp_path / "val.txt"
    val.write_text(ENGLISH, encoding="utf-8")
    other = tmp_path / "other.txt"
    other.write_text(ENGLISH[::-1], encoding="utf-8")
    out = tmp_path / "m.safetensors"
    run_cli("train", english_corpus, "--val-file", val, "--steps", "2", "--out", out, *TINY)
    result = run_cli("train", english_corpus, "--val-file", other, "--steps", "4", "--resume", out, ok=False)
    assert "--val-file cannot change on resume" in result.output
    run_cli("train", english_corpus, "--steps", "4", "--resume", out)  # the recorded file is used
    assert load_checkpoint(out).train["step"] == 4


def test_param_grad_norms_are_computed_only_when_asked(tmp_path, english_corpus):
    corpus = load_corpus(str(english_corpus))
    config = TrainConfig(steps=2, hidden=16, embed=8, layers=1, seq_len=16, batch_size=4, threads=1)
    trainer = Trainer(config, corpus, out=tmp_path / "m.safetensors")
    first = trainer.train_step()
    assert isinstance(first, StepEvent) and first.param_grad_norms is None
    trainer.param_norms_wanted = True
    second = trainer.train_step()
    names = {name for name, _ in trainer.model.named_parameters()}
    assert set(second.param_grad_norms) == names
    total = float(np.sqrt(sum(v * v for v in second.param_grad_norms.values())))
    assert abs(total - second.grad_norm) < 1e-3 * max(1.0, total)


def test_time_spent_reporting_counts_inside_the_budget(tmp_path, english_corpus):
    """--time is wall-clock: a slow callback (a progress bar, a metrics writer) uses the budget up."""
    import time as clock

    corpus = load_corpus(str(english_corpus))
    config = TrainConfig(steps=6, hidden=16, embed=8, layers=1, seq_len=16, batch_size=4, threads=1, eval_every=100)

    def slow(event):
        if isinstance(event, StepEvent):
            clock.sleep(0.05)

    trainer = Trainer(config, corpus, out=tmp_path / "m.safetensors", callback=slow)
    trainer.run()
    assert trainer.elapsed_s >= 6 * 0.05
