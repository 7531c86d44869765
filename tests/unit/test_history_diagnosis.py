"""rnngen info's diagnosis of the evaluation history, on synthetic histories."""

from __future__ import annotations

import numpy as np

from rnngen.history_diagnosis import diagnose, unigram_loss


def _history(vals, trains=None, every=100):
    trains = trains or [v - 0.05 for v in vals]
    return [{"step": every * (i + 1), "train_loss": t, "val_loss": v} for i, (v, t) in enumerate(zip(vals, trains))]


def test_overfitting_names_the_step_where_val_bottomed():
    vals = [2.5, 2.0, 1.7, 1.55, 1.49, 1.46, 1.47, 1.48, 1.49]
    trains = [2.5, 2.0, 1.7, 1.5, 1.45, 1.40, 1.36, 1.33, 1.30]
    d = diagnose(_history(vals, trains, every=190), unigram=3.3)
    assert d.kind == "overfitting" and d.since_step == 1140
    assert d.text == (
        "overfitting since step 1,140 (train 1.30, val 1.49 and rising): more data, more dropout or a smaller model"
    )


def test_still_improving_at_the_end():
    d = diagnose(_history([2.5, 2.2, 2.0, 1.9, 1.8, 1.7]), unigram=3.3)
    assert d.kind == "improving"
    assert d.text.startswith("still improving at the end") and "a longer --time would help" in d.text


def test_stuck_near_the_unigram_loss():
    d = diagnose(_history([2.31, 2.30, 2.30, 2.305]), unigram=2.302)
    assert d.kind == "stuck" and d.text.startswith("stuck near the unigram loss")


def test_levelled_off_is_neither_rising_nor_improving():
    d = diagnose(_history([2.5, 2.0, 1.8, 1.8, 1.8, 1.8, 1.8]), unigram=3.3)
    assert d.kind == "levelled" and d.since_step == 300


def test_train_and_val_rising_together_is_instability():
    d = diagnose(_history([2.5, 2.0, 1.9, 2.2, 2.6], [2.5, 2.0, 1.9, 2.3, 2.7]), unigram=3.3)
    assert d.kind == "unstable" and "a lower --lr" in d.text


def test_too_few_evaluations_and_junk_rows():
    assert diagnose([]).kind == "too-few"
    rows = _history([2.0, 1.9]) + [{"step": 300, "val_loss": None}, {"step": 400, "val_loss": float("nan")}]
    assert diagnose(rows, unigram="junk").kind == "too-few"


def test_unigram_loss_is_the_entropy_of_the_counts():
    assert abs(unigram_loss(np.array([1, 1, 1, 1])) - np.log(4)) < 1e-4
    assert unigram_loss(np.array([0, 5])) == 0.0
    assert unigram_loss(np.zeros(3)) is None
