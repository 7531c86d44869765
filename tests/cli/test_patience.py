"""--patience: training stops where the evaluation history says, and the best checkpoint is kept."""

from __future__ import annotations

import random

from helpers.cli import run_cli

from rnngen.checkpoint import load_checkpoint

# Random letters: nothing to learn beyond their frequencies, so the validation loss wanders
# around the unigram loss and stops improving early.
TINY_FAST = ["--hidden", "32", "--embed", "8", "--layers", "1", "--seq-len", "32", "--batch-size", "8"]
TINY_FAST += ["--threads", "1", "--seed", "3", "--lr", "0.02", "--schedule", "constant"]


def _random_text(path, n=4000):
    rng = random.Random(1)
    path.write_text("".join(rng.choice("abcdefgh \n") for _ in range(n)), encoding="utf-8")
    return path


def _first_exhausted_step(history: list[dict], patience: int) -> int | None:
    """The step of the first evaluation after ``patience`` evaluations in a row without a new best."""
    best, since = None, 0
    for row in history:
        if best is None or row["val_loss"] < best:
            best, since = row["val_loss"], 0
        else:
            since += 1
            if since >= patience:
                return row["step"]
    return None


def test_patience_stops_where_the_history_says(tmp_path):
    corpus = _random_text(tmp_path / "rand.txt")
    out = tmp_path / "p.safetensors"
    steps = 2000
    result = run_cli("train", corpus, *TINY_FAST, "--steps", steps, "--eval-every", 10, "--patience", 2, "--out", out)
    ckpt = load_checkpoint(out)
    history = ckpt.train["history"]
    expected = _first_exhausted_step(history, 2)
    assert expected is not None and expected < steps
    assert ckpt.train["step"] == expected == history[-1]["step"]
    best = load_checkpoint(tmp_path / "p.best.safetensors")
    assert best.train["step"] == ckpt.train["best_step"] < expected
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"stopped early at step {expected}:") and "p.best.safetensors" in last
    info = run_cli("info", out).output
    assert "diagnosis    " in info


def test_patience_zero_is_refused_with_exit_2(tmp_path):
    corpus = _random_text(tmp_path / "rand.txt", 400)
    result = run_cli("train", corpus, *TINY_FAST, "--steps", 5, "--patience", 0, ok=False)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "'--patience': 0 is not in the range" in lines[0]


def test_patience_in_the_api_is_checked(tmp_path):
    import pytest

    from rnngen.config import train_config, validate_config
    from rnngen.errors import RnngenError

    config, _ = train_config({"patience": 0})
    with pytest.raises(RnngenError, match="patience"):
        validate_config(config)
