"""End-to-end checks of train / sample / eval / info through the real CLI."""

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from rnngen.checkpoint import load_checkpoint
from rnngen.corpus import load_corpus
from rnngen.training import StepEvent, TrainConfig, Trainer

from helpers.cli import TINY, run_cli, unigram_entropy


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("level", ["char", "word"])
def test_every_cell_and_level_trains_samples_and_evaluates(tmp_path, english_corpus, cell, level):
    out = tmp_path / f"{cell}-{level}.safetensors"
    run_cli("train", english_corpus, "--level", level, "--model", cell, "--steps", "6", "--out", out, *TINY)
    ckpt = load_checkpoint(out)
    assert ckpt.model_config.cell == cell and ckpt.tokenizer.level == level
    assert ckpt.train["step"] == 6 and ckpt.resumable
    assert (tmp_path / f"{cell}-{level}.best.safetensors").exists()

    prime = "First Citizen" if level == "word" else "First"
    text = run_cli("sample", out, "--prime", prime, "--length", "20", "--seed", "1").stdout
    assert text.startswith(prime) and len(text) > len(prime)

    result = json.loads(run_cli("eval", out, english_corpus, "--json").stdout)
    assert result["tokens"] > 0 and result["loss"] > 0
    assert result["perplexity"] == pytest.approx(2.718281828 ** result["loss"], rel=1e-6)
    if level == "char":
        assert result["bpc"] == pytest.approx(result["loss"] / 0.6931471805599453, rel=1e-6)

    info = json.loads(run_cli("info", out, "--json").stdout)
    assert info["step"] == 6 and info["model"]["cell"] == cell and info["parameters"] > 0
    assert info["history"] and info["history"][-1]["step"] == 6


def test_training_lowers_the_loss(tmp_path, english_corpus):
    out = tmp_path / "m.safetensors"
    run_cli("train", english_corpus, "--steps", "80", "--out", out, "--lr", "1e-2", *TINY)
    history = load_checkpoint(out).train["history"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    # A model that knew only character frequencies (where a fresh one starts) could not
    # get below the unigram entropy: this one uses context.
    assert history[-1]["val_loss"] < unigram_entropy(english_corpus.read_text(encoding="utf-8")) - 0.15


def test_chinese_text_trains_and_samples(tmp_path, chinese_corpus):
    out = tmp_path / "zh.safetensors"
    run_cli("train", chinese_corpus, "--steps", "10", "--out", out, *TINY)
    text = run_cli("sample", out, "--prime", "明月", "--length", "30", "--seed", "2").stdout
    assert text.startswith("明月")
    vocab = set(load_checkpoint(out).tokenizer.vocab)
    assert set(text.strip()) <= vocab


def test_default_out_goes_under_checkpoints_and_never_overwrites(english_corpus, tmp_path):
    run_cli("train", english_corpus, "--steps", "2", *TINY)
    run_cli("train", english_corpus, "--steps", "2", *TINY)
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.safetensors"))
    assert names == ["english-char-lstm-2.best.safetensors", "english-char-lstm-2.safetensors",
                     "english-char-lstm.best.safetensors", "english-char-lstm.safetensors"]


def test_sample_is_reproducible_with_a_seed(char_ckpt):
    a = run_cli("sample", char_ckpt, "--length", "50", "--seed", "5").stdout
    b = run_cli("sample", char_ckpt, "--length", "50", "--seed", "5").stdout
    c = run_cli("sample", char_ckpt, "--length", "50", "--seed", "6").stdout
    assert a == b and a != c


def test_temp_zero_samples_are_identical_whatever_the_seed(char_ckpt):
    a = run_cli("sample", char_ckpt, "--length", "40", "--temp", "0", "--seed", "1").stdout
    b = run_cli("sample", char_ckpt, "--length", "40", "--temp", "0", "--seed", "2").stdout
    assert a == b


def test_num_makes_several_independent_samples(char_ckpt):
    out = run_cli("sample", char_ckpt, "--length", "30", "--num", "3", "--seed", "1", "--prime", "All").stdout
    samples = out.strip().split("\n" + "-" * 40 + "\n")
    assert len(samples) == 3 and all(s.startswith("All") for s in samples)
    assert len(set(samples)) > 1


def test_word_level_sample_reads_like_text(word_ckpt):
    text = run_cli("sample", word_ckpt, "--length", "40", "--seed", "3", "--prime", "First Citizen").stdout
    assert text.startswith("First Citizen")
    assert " ," not in text and " ." not in text


def test_best_checkpoint_is_weights_only_and_samples(char_ckpt):
    best = char_ckpt.with_name("char.best.safetensors")
    loaded = load_checkpoint(best)
    assert not loaded.resumable
    assert loaded.train["best_val_loss"] is not None
    assert run_cli("sample", best, "--length", "10", "--seed", "1").stdout


def test_resume_counts_steps_in_total(tmp_path, english_corpus):
    out = tmp_path / "r.safetensors"
    run_cli("train", english_corpus, "--steps", "5", "--out", out, *TINY)
    run_cli("train", english_corpus, "--resume", out, "--steps", "9", *TINY)
    assert load_checkpoint(out).train["step"] == 9


def _weights(path):
    return load_checkpoint(path).model_state()


def test_resume_with_constant_schedule_equals_one_straight_run(tmp_path, english_corpus):
    common = ["--schedule", "constant", "--dropout", "0.2", "--layers", "2", "--hidden", "16", "--embed", "8",
              "--seq-len", "16", "--batch-size", "4", "--threads", "1", "--seed", "9", "--warmup", "3"]
    straight, split = tmp_path / "straight.safetensors", tmp_path / "split.safetensors"
    run_cli("train", english_corpus, "--steps", "12", "--out", straight, *common)
    run_cli("train", english_corpus, "--steps", "6", "--out", split, *common)
    run_cli("train", english_corpus, "--steps", "12", "--resume", split, *common)
    a, b = _weights(straight), _weights(split)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, english_corpus):
    """Stop a cosine-schedule run half way (as Ctrl-C does), resume it, compare with no stop."""
    config = TrainConfig(steps=14, hidden=16, embed=8, layers=2, dropout=0.3, seq_len=16, batch_size=4, seed=4,
                         threads=1, eval_every=5, warmup_steps=4)
    corpus = load_corpus(english_corpus)
    straight = Trainer(config, corpus, out=tmp_path / "a.safetensors")
    straight.run()

    stop = threading.Event()

    def stop_at_7(event):
        if isinstance(event, StepEvent) and event.step == 7:
            stop.set()

    first = Trainer(config, corpus, out=tmp_path / "b.safetensors", callback=stop_at_7)
    assert first.run(stop).reason == "stopped"
    assert load_checkpoint(tmp_path / "b.safetensors").train["step"] == 7
    second = Trainer(config, corpus, resume=tmp_path / "b.safetensors")
    assert second.run().reason == "budget"
    a, b = _weights(tmp_path / "a.safetensors"), _weights(tmp_path / "b.safetensors")
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_resume_refuses_a_changed_shape(tmp_path, english_corpus, char_ckpt):
    out = tmp_path / "c.safetensors"
    out.write_bytes(char_ckpt.read_bytes())
    result = run_cli("train", english_corpus, "--resume", out, "--hidden", "32", "--steps", "40", ok=False)
    assert result.exit_code == 1
    assert "cannot change on resume" in result.stderr
    assert out.read_bytes() == char_ckpt.read_bytes()


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path, english_corpus):
    out = tmp_path / "int.safetensors"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnngen", "train", str(english_corpus), "--time", "5m", "--eval-every", "5", "--out", str(out), *TINY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 60
    while not out.exists() and time.time() < deadline:  # first evaluation wrote a checkpoint: training runs
        time.sleep(0.2)
    assert out.exists(), proc.stderr.read() if proc.poll() is not None else "no checkpoint yet"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "stopped at step" in stdout
    ckpt = load_checkpoint(out)
    assert ckpt.resumable and ckpt.train["step"] > 0
    assert not list(tmp_path.glob(".*tmp*"))
