"""The training loop's rules without a model: learning rate, budget, evaluation cadence, time
left (rnngen/training/schedule.py), and building and resuming a config (rnngen/config.py)."""

from __future__ import annotations

import math

import pytest

from rnngen.cli.common import flag
from rnngen.config import TrainConfig, chosen, merge_resume_config, train_config
from rnngen.errors import RnngenError
from rnngen.training import schedule

LR = 1e-2


def config(**options) -> TrainConfig:
    return TrainConfig(**{"lr": LR, "warmup_steps": 10, **options})


# ---- learning rate -----------------------------------------------------------------------


def test_warm_up_rises_linearly_to_the_peak():
    c = config()
    rates = [schedule.learning_rate(c, step, done=0.0) for step in range(10)]
    assert rates == pytest.approx([LR * (s + 1) / 10 for s in range(10)])
    assert schedule.learning_rate(c, 9, done=0.0) == pytest.approx(LR)


@pytest.mark.parametrize("done, factor", [(0.0, 1.0), (0.5, 0.1 + 0.9 * 0.5), (1.0, 0.1), (0.25, None)])
def test_cosine_decays_to_min_lr_frac_of_the_peak(done, factor):
    c = config(min_lr_frac=0.1)
    if factor is None:
        factor = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))
    assert schedule.learning_rate(c, 50, done) == pytest.approx(LR * factor)


def test_constant_schedule_and_the_nan_scale():
    c = config(schedule="constant")
    assert schedule.learning_rate(c, 50, 0.9) == pytest.approx(LR)
    assert schedule.learning_rate(c, 50, 0.9, lr_scale=0.25) == pytest.approx(LR / 4)
    assert schedule.learning_rate(config(warmup_steps=0), 0, 0.0) == pytest.approx(LR)


# ---- budget and progress -------------------------------------------------------------------


def test_total_steps_by_budget():
    assert schedule.total_steps(config(steps=7), windows_per_epoch=100) == 7
    assert schedule.total_steps(config(epochs=2.5), windows_per_epoch=4) == 10
    assert schedule.total_steps(config(epochs=0.01), windows_per_epoch=4) == 1  # at least one step
    assert schedule.total_steps(config(time_s=60.0), windows_per_epoch=4) is None


def test_budget_done_for_steps_epochs_and_time():
    assert not schedule.budget_done(4, 5, elapsed_s=1e9, time_s=None)
    assert schedule.budget_done(5, 5, elapsed_s=0.0, time_s=None)
    epochs = schedule.total_steps(config(epochs=2.5), windows_per_epoch=4)
    assert not schedule.budget_done(9, epochs, 0.0, None) and schedule.budget_done(10, epochs, 0.0, None)
    assert not schedule.budget_done(10**6, None, elapsed_s=9.99, time_s=10.0)
    assert schedule.budget_done(0, None, elapsed_s=10.0, time_s=10.0)


def test_progress_by_steps_or_time_and_capped_at_one():
    assert schedule.progress(5, 20, elapsed_s=999.0, time_s=None) == pytest.approx(0.25)
    assert schedule.progress(30, 20, 0.0, None) == 1.0
    assert schedule.progress(3, None, elapsed_s=15.0, time_s=60.0) == pytest.approx(0.25)
    assert schedule.progress(3, None, elapsed_s=90.0, time_s=60.0) == 1.0


def test_eta_counts_steps_or_seconds_left():
    assert schedule.eta(15, 20, 0.0, None, step_s=0.5) == pytest.approx(2.5)
    assert schedule.eta(25, 20, 0.0, None, step_s=0.5) == 0
    assert schedule.eta(3, None, elapsed_s=45.0, time_s=60.0, step_s=0.5) == pytest.approx(15.0)
    assert schedule.eta(3, None, elapsed_s=75.0, time_s=60.0, step_s=0.5) == 0.0


# ---- evaluation cadence --------------------------------------------------------------------


def test_eval_every_n_steps_when_given():
    c = config(eval_every=3, steps=100)
    assert not schedule.eval_due(c, 4, 100, 0.0, last_eval_step=2, last_eval_time=0.0)
    assert schedule.eval_due(c, 5, 100, 0.0, last_eval_step=2, last_eval_time=0.0)


def test_about_ten_evaluations_per_step_budget():
    c = config(steps=100)
    assert not schedule.eval_due(c, 19, 100, 0.0, last_eval_step=10, last_eval_time=0.0)
    assert schedule.eval_due(c, 20, 100, 0.0, last_eval_step=10, last_eval_time=0.0)
    tiny = config(steps=5)  # fewer than ten steps: every step
    assert schedule.eval_due(tiny, 1, 5, 0.0, last_eval_step=0, last_eval_time=0.0)


def test_about_ten_evaluations_per_time_budget():
    c = config(time_s=100.0)
    assert not schedule.eval_due(c, 50, None, elapsed_s=29.9, last_eval_step=1, last_eval_time=20.0)
    assert schedule.eval_due(c, 50, None, elapsed_s=30.0, last_eval_step=1, last_eval_time=20.0)


# ---- one constructor, one budget check -----------------------------------------------------


def test_train_config_takes_the_cli_spellings_and_durations():
    c, given = train_config({"model": "gru", "time": "1m30s", "warmup": 5, "hidden": 64})
    assert (c.cell, c.time_s, c.warmup_steps, c.hidden) == ("gru", 90.0, 5, 64)
    assert given == {"cell", "time_s", "warmup_steps", "hidden"}
    c, _ = train_config({"time": 45})
    assert c.time_s == 45


def test_one_budget_named_for_the_api_and_as_flags_for_the_cli():
    with pytest.raises(RnngenError) as err:
        train_config({"steps": 3, "time": "5m"})
    assert str(err.value) == "give one budget: steps, epochs or time"
    assert err.value.render(flag) == "give one budget: --steps, --epochs or --time"
    with pytest.raises(RnngenError) as err:
        train_config({"steps": 3, "time": "5m"}, budgets=("steps", "time_s"))
    assert err.value.render(flag) == "give one budget: --steps or --time"


def test_bad_duration_and_unknown_option():
    with pytest.raises(RnngenError) as err:
        train_config({"time": "soon"})
    assert err.value.render(flag).startswith("--time 'soon' is not a duration")
    with pytest.raises(RnngenError, match="unknown training option 'hiden'"):
        train_config({"hiden": 3})


def test_given_names_are_what_the_user_chose_not_every_default():
    _, given = train_config({"level": "char", "lr": 1e-3, "time": None}, given={"lr"})
    assert given == {"lr"}


def test_chosen_refuses_a_setting_the_planner_left_out():
    assert chosen(3, "layers") == 3
    with pytest.raises(AssertionError, match="layers"):
        chosen(None, "layers")


# ---- the resume rules ----------------------------------------------------------------------


def saved(**options) -> dict:
    base = dict(level="char", cell="lstm", layers=1, hidden=64, embed=16, seq_len=32, batch_size=8, lr=3e-3,
                dropout=0.0, warmup_steps=50, steps=100, eval_tokens=4096, device="cuda", optimizer="adamw",
                clip=1.0, tie=False)  # a planned config: every choice filled in
    return TrainConfig(**{**base, **options}).to_json()


def test_resume_keeps_the_checkpoint_config_for_what_was_not_given():
    merged = merge_resume_config(TrainConfig(hidden=999, lr=1.0), saved(), explicit=set())
    assert (merged.hidden, merged.lr, merged.steps, merged.eval_tokens) == (64, 3e-3, 100, 4096)


def test_resume_takes_what_may_change():
    given = TrainConfig(lr=1e-3, clip=0.5, eval_every=2, dropout=0.2, warmup_steps=0)
    merged = merge_resume_config(given, saved(), explicit={"lr", "clip", "eval_every", "dropout", "warmup_steps"})
    assert (merged.lr, merged.clip, merged.eval_every, merged.dropout, merged.warmup_steps) == (1e-3, 0.5, 2, 0.2, 0)


def test_a_new_budget_replaces_the_old_one():
    merged = merge_resume_config(TrainConfig(time_s=60.0), saved(steps=100), explicit={"time_s"})
    assert (merged.steps, merged.epochs, merged.time_s) == (None, None, 60.0)


def test_the_device_always_comes_from_this_run():
    merged = merge_resume_config(TrainConfig(device="auto"), saved(device="cuda"), explicit=set())
    assert merged.device == "auto"


@pytest.mark.parametrize("name, value", [("hidden", 128), ("batch_size", 4), ("cell", "gru"), ("level", "word")])
def test_shape_and_layout_cannot_change(name, value):
    with pytest.raises(RnngenError) as err:
        merge_resume_config(TrainConfig(**{name: value}), saved(), explicit={name})
    assert str(err.value).startswith(f"{name} {value} differs from the checkpoint's")
    assert err.value.render(flag).startswith(f"{flag(name)} {value} differs")
    # Giving the checkpoint's own value is fine.
    same = TrainConfig.from_json(saved())
    assert merge_resume_config(same, saved(), explicit={name}).hidden == 64


@pytest.mark.parametrize("name, value", [("val_frac", 0.2), ("val_file", "other.txt")])
def test_the_validation_text_cannot_change(name, value):
    with pytest.raises(RnngenError) as err:
        merge_resume_config(TrainConfig(**{name: value}), saved(), explicit={name})
    assert err.value.render(flag) == f"{flag(name)} cannot change on resume (the validation text would change)"
