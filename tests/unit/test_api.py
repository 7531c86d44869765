"""The Python API: rnngen.load / rnngen.train and the Model's methods."""

import subprocess
import sys

import pytest

import rnngen
from rnngen.errors import RnngenError
from rnngen.training import DoneEvent, StepEvent

from helpers.cli import ENGLISH

TINY_KW = dict(hidden=16, embed=8, layers=1, seq_len=16, batch_size=4, threads=1, seed=3)


def test_import_is_light():
    code = "import sys, rnngen; assert 'torch' not in sys.modules; print(rnngen.__version__)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


def test_train_runs_the_cli_trainer_and_returns_a_model(tmp_path, english_corpus):
    events = []
    m = rnngen.train(english_corpus, steps=8, out=tmp_path / "a.safetensors", callback=events.append,
                     model="gru", time=None, **TINY_KW)
    assert isinstance(m, rnngen.Model) and m.config.cell == "gru" and m.level == "char"
    assert m.train_info["step"] == 8 and m.history[-1]["step"] == 8
    assert isinstance(m.result, DoneEvent) and m.result.reason == "budget"
    assert sum(isinstance(e, StepEvent) for e in events) == 8
    # The same options through the CLI give the same weights: one trainer.
    from helpers.cli import TINY, run_cli

    run_cli("train", english_corpus, "--steps", "8", "--model", "gru", "--out", tmp_path / "b.safetensors", *TINY)
    a, b = rnngen.load(tmp_path / "a.safetensors"), rnngen.load(tmp_path / "b.safetensors")
    for name, tensor in a.net.state_dict().items():
        assert (tensor - b.net.state_dict()[name]).abs().max() < 1e-6


def test_sample_stream_inspect_evaluate(char_ckpt):
    m = rnngen.load(char_ckpt)
    text = m.sample(prime="First", length=40, temp=0.9, top_k=10, top_p=0.95, seed=7)
    assert text.startswith("First") and len(text) == len("First") + 40
    assert m.sample(prime="First", length=40, temp=0.9, top_k=10, top_p=0.95, seed=7) == text
    pieces = list(m.stream(prime="First", length=40, temp=0.9, top_k=10, top_p=0.95, seed=7))
    assert len(pieces) == 40 and "First" + "".join(pieces) == text
    assert m.sample(prime="All", length=10, temp=0) == m.sample(prime="All", length=10, temp=0, seed=99)
    assert len(m.samples(3, prime="A", length=5, seed=1)) == 3
    record = m.inspect("First Citizen")
    assert len(record.hidden[0]) == len("First Citizen")
    result = m.evaluate(ENGLISH)
    assert result.tokens == len(ENGLISH) - 1 and result.bpc > 0


def test_word_level_stream_matches_sample(word_ckpt):
    m = rnngen.load(word_ckpt)
    text = m.sample(prime="First Citizen", length=15, seed=2)
    assert text == "First Citizen" + "".join(m.stream(prime="First Citizen", length=15, seed=2))


def test_bad_options_are_clear_errors(english_corpus, char_ckpt):
    with pytest.raises(RnngenError, match="unknown training option 'hiden'"):
        rnngen.train(english_corpus, hiden=3)
    with pytest.raises(RnngenError, match="one budget"):
        rnngen.train(english_corpus, steps=3, time="5m")
    with pytest.raises(RnngenError, match="^temp must be 0 or more"):  # named as the API spells it
        rnngen.load(char_ckpt).sample(temp=-1)
    with pytest.raises(RnngenError, match="does not exist"):
        rnngen.load("missing.safetensors")
