"""The choice of settings from budget, machine and corpus (rnngen.planner), with fake
machine speeds: nothing here is timed."""

from __future__ import annotations

import json

import pytest
import torch

from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.planner import (
    TOKENS_PER_PARAMETER,
    Shape,
    default_dropout,
    eval_tokens_for,
    parameters,
    passes_by_end,
    plan,
    rechecked_dropout,
)
from rnngen.training import ReplanEvent, TrainConfig, Trainer
from helpers.cli import run_cli


def fake_machine(gflops: float, *, batch_gain: dict[int, float] | None = None):
    """A machine that trains at ``gflops`` (6 FLOPs per multiply-add, forward + backward),
    and records which shapes were timed."""
    timed: list[tuple[str, int]] = []

    def speed(cell: str, shape: Shape, batch: int, seq_len: int) -> float:
        timed.append((shape.label, batch))
        macs = parameters(cell, shape, 65) - 65 * shape.embed
        return gflops * 1e9 / (6 * macs) * (batch_gain or {}).get(batch, 1.0)

    return speed, timed


def char_plan(config: TrainConfig, speed, *, train_tokens: int = 1_000_000, gpu: bool = False):
    return plan(config, train_tokens=train_tokens, val_tokens=100_000, vocab=65, gpu=gpu, speed=speed,
                clock=lambda: 0.0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers,hidden,embed,tie", [(1, 384, 64, False), (2, 256, 32, False), (3, 64, 64, True)])
def test_parameter_count_matches_the_real_model(cell, layers, hidden, embed, tie):
    model = RNNLanguageModel(ModelConfig(cell=cell, vocab_size=65, embed=embed, hidden=hidden, layers=layers, tie=tie))
    assert parameters(cell, Shape(layers, hidden, embed), 65, tie) == model.num_parameters()


def test_a_faster_machine_gets_a_bigger_model_in_the_same_time():
    chosen = {}
    for gflops in (5, 40, 400):
        speed, _ = fake_machine(gflops)
        config, _ = char_plan(TrainConfig(time_s=150), speed)
        chosen[gflops] = (config.layers, config.hidden)
    sizes = [parameters("lstm", Shape(*chosen[g], 64), 65) for g in (5, 40, 400)]
    assert sizes[0] < sizes[1] < sizes[2], chosen


def test_the_chosen_shape_is_the_largest_the_budget_feeds():
    speed, timed = fake_machine(40)
    config, p = char_plan(TrainConfig(time_s=150), speed)
    labels = [label for label, batch in timed if batch == 16]
    shape = Shape(config.layers, config.hidden, config.embed)
    tokens = 150 * 0.97 * speed("lstm", shape, 16, 64)
    assert tokens >= TOKENS_PER_PARAMETER * parameters("lstm", shape, 65)
    # The next candidate was timed and found too slow to feed; none bigger was timed.
    assert labels[-1] != shape.label
    nxt = labels[-1]
    layers, hidden = map(int, nxt.split("x"))
    bigger = Shape(layers, hidden, 64)
    assert 150 * 0.97 * speed("lstm", bigger, 16, 64) < TOKENS_PER_PARAMETER * parameters("lstm", bigger, 65)
    assert p.summary.startswith("this machine trains ~") and f"{config.layers}x{config.hidden}" in p.summary


def test_a_bigger_batch_is_taken_only_when_it_trains_much_faster():
    flat, _ = fake_machine(40)
    config, _ = char_plan(TrainConfig(time_s=150), flat)
    assert config.batch_size == 16
    wide, _ = fake_machine(40, batch_gain={32: 1.8, 64: 3.0})  # a machine with many cores, or a GPU
    config, _ = char_plan(TrainConfig(time_s=150), wide)
    assert config.batch_size == 64


def test_dropout_follows_the_passes_over_the_text():
    assert default_dropout(1.0) == 0.0 and default_dropout(5.9) == 0.0
    assert 0 < default_dropout(7) < default_dropout(13) < default_dropout(50) <= 0.3
    speed, _ = fake_machine(40)
    small_corpus, p_small = char_plan(TrainConfig(time_s=600), speed, train_tokens=100_000)
    big_corpus, p_big = char_plan(TrainConfig(time_s=600), speed, train_tokens=50_000_000)
    assert p_small.epochs > 6 and small_corpus.dropout > 0
    assert p_big.epochs < 1 and big_corpus.dropout == 0


def test_step_and_epoch_budgets_are_planned_from_their_token_count_without_timing():
    _, timed = fake_machine(40)

    def never(*args):
        raise AssertionError("a steps budget must not time anything")

    short, p1 = char_plan(TrainConfig(steps=20), never)
    long, p2 = char_plan(TrainConfig(steps=20_000), never)
    assert p1.tokens == 20 * 16 * 64 and p2.tokens == 20_000 * 16 * 64
    assert (short.layers, short.hidden) == (1, 128)
    assert parameters("lstm", Shape(long.layers, long.hidden, 64), 65) > parameters("lstm", Shape(1, 128, 64), 65)
    epochs, p3 = char_plan(TrainConfig(epochs=2), never, train_tokens=500_000)
    assert p3.tokens == 1_000_000 and "2 epochs" in p3.summary


def test_every_explicit_option_overrides_the_plan():
    speed, timed = fake_machine(40)
    given = TrainConfig(time_s=150, layers=2, hidden=96, embed=24, batch_size=8, seq_len=50, lr=1e-3,
                        dropout=0.4, warmup_steps=7)
    config, _ = char_plan(given, speed)
    for name in ("layers", "hidden", "embed", "batch_size", "seq_len", "lr", "dropout", "warmup_steps"):
        assert getattr(config, name) == getattr(given, name), name
    assert {label for label, _ in timed} == {"2x96"}  # only the given shape is timed


def test_a_given_width_keeps_the_width_and_chooses_the_rest():
    speed, _ = fake_machine(40)
    config, _ = char_plan(TrainConfig(time_s=150, hidden=200), speed)
    assert config.hidden == 200 and config.layers >= 1 and config.lr > 0


def test_no_budget_means_five_minutes():
    speed, _ = fake_machine(40)
    config, _ = char_plan(TrainConfig(), speed)
    assert config.time_s == 300


def test_evaluations_fit_in_a_small_share_of_the_run():
    # 30k tokens/s training, 150 s: ten evaluations at ~3x that speed in 3% of the run.
    n = eval_tokens_for(30_000, 10_000_000, 150.0)
    assert 10 * n / (3 * 30_000) <= 0.031 * 150
    assert eval_tokens_for(30_000, 5_000, 150.0) == 5_000  # never more than the validation text
    assert eval_tokens_for(10, 10_000_000, 1.0) == 8 * 1024  # never a uselessly small sample


def test_the_plan_is_printed_and_stored_in_the_checkpoint(tmp_path, english_corpus):
    out = tmp_path / "m.safetensors"
    result = run_cli("train", english_corpus, "--steps", "3", "--threads", "1", "--out", out)
    assert "plan: 3 steps ->" in result.output
    from rnngen.checkpoint import load_checkpoint

    train = load_checkpoint(out).train
    assert train["plan"]["tokens"] == 3 * 16 * 64
    assert "hidden" in train["plan"]["chosen"] and train["config"]["hidden"] == 128
    assert json.dumps(train["plan"])  # plain JSON


def test_a_time_budget_is_measured_and_counted(tmp_path, english_corpus):
    out = tmp_path / "m.safetensors"
    result = run_cli("train", english_corpus, "--time", "2s", "--threads", "1", "--out", out)
    from rnngen.checkpoint import load_checkpoint

    train = load_checkpoint(out).train
    assert train["plan"]["measured"], "a --time budget times candidate shapes"
    assert 0 < train["plan"]["seconds"] < 2
    assert train["elapsed_s"] >= train["plan"]["seconds"]
    assert "this machine trains ~" in result.output


def test_resume_keeps_the_plan_and_settings(tmp_path, english_corpus):
    out = tmp_path / "m.safetensors"
    run_cli("train", english_corpus, "--steps", "3", "--threads", "1", "--out", out)
    from rnngen.checkpoint import load_checkpoint

    before = load_checkpoint(out).train
    run_cli("train", english_corpus, "--steps", "5", "--threads", "1", "--resume", out)
    after = load_checkpoint(out).train
    assert after["plan"] == before["plan"]
    for name in ("hidden", "layers", "lr", "dropout", "batch_size", "eval_tokens"):
        assert after["config"][name] == before["config"][name], name
    assert torch.is_tensor(load_checkpoint(out).tensors["head.weight"])


def test_timing_stops_at_a_tenth_of_a_short_budget():
    # A fast machine that is busy right now: every timed shape costs a second of the clock.
    speed, timed = fake_machine(4000)
    free, _ = char_plan(TrainConfig(time_s=20), speed)
    assert (free.layers, free.hidden) == (1, 512) and len(timed) == 6  # with time to spare

    speed, timed = fake_machine(4000)
    now = [0.0]

    def busy_speed(*args):
        now[0] += 1.0
        return speed(*args)

    config, p = plan(TrainConfig(time_s=20), train_tokens=1_000_000, val_tokens=100_000, vocab=65, gpu=False,
                     speed=busy_speed, clock=lambda: now[0])
    # 1 s, 2 s, 3 s: once past 2 s (a tenth of 20 s) nothing more is timed, the largest fed shape so far wins.
    assert [label for label, _ in timed] == ["1x192", "1x256", "1x384"] and p.seconds == 3.0
    assert (config.layers, config.hidden, config.batch_size) == (1, 384, 16)


def test_the_runs_own_speed_rechecks_the_dropout():
    # The probe said 10k tokens/s: 5.8 passes in 600 s, no dropout. The run trains at 30k.
    assert passes_by_end(0, 10_000, 600, 1_000_000) == pytest.approx(5.82)
    assert rechecked_dropout(0.0, passes_by_end(0, 10_000, 600, 1_000_000)) is None
    passes = passes_by_end(200_000, 30_000, 540, 1_000_000)
    assert passes == pytest.approx(15.91, abs=0.01)
    assert rechecked_dropout(0.0, passes) == default_dropout(passes) == 0.2
    assert rechecked_dropout(0.2, passes) is None  # the plan was right: nothing changes
    assert rechecked_dropout(0.3, 2.0) == 0.0  # a slower run than planned: dropout goes


def _tiny_time_run(tmp_path, english_corpus, **given):
    from rnngen.corpus import load_corpus

    # 750 characters: even a slow machine passes over them dozens of times in 3 s.
    small = tmp_path / "small.txt"
    small.write_text(english_corpus.read_text(encoding="utf-8")[:750], encoding="utf-8")
    config = TrainConfig(time_s=3, hidden=16, embed=8, layers=2, seq_len=16, batch_size=4, threads=1, **given)
    events: list = []
    trainer = Trainer(config, load_corpus(small), out=tmp_path / "m.safetensors", callback=events.append)
    return trainer, events


def test_a_probe_that_was_too_slow_is_corrected_during_the_run(tmp_path, english_corpus):
    from dataclasses import replace

    from rnngen.checkpoint import load_checkpoint

    trainer, events = _tiny_time_run(tmp_path, english_corpus)
    # Whatever the probe measured, pretend it ran beside a busy process and predicted a few
    # passes only (no dropout).
    assert "dropout" in trainer.plan.chosen
    trainer.model.set_dropout(0.0)
    trainer.model_config, trainer.config = trainer.model.config, replace(trainer.config, dropout=0.0)
    trainer.run()
    replans = [e for e in events if isinstance(e, ReplanEvent)]
    assert len(replans) == 1
    saved = load_checkpoint(tmp_path / "m.safetensors")
    record = saved.train["plan"]["replanned"]
    rate = record["dropout"]
    assert rate == default_dropout(record["epochs"]) > 0 and f"dropout {rate:g} instead of 0" in replans[0].message
    assert trainer.model.drop.p == rate and trainer.model.rnn.dropout == rate
    assert saved.model_config.dropout == rate and saved.train["config"]["dropout"] == rate
    assert record["message"] == replans[0].message


def test_a_dropout_the_user_gave_is_never_rechecked(tmp_path, english_corpus):
    trainer, events = _tiny_time_run(tmp_path, english_corpus, dropout=0.0)
    trainer.run()
    assert not any(isinstance(e, ReplanEvent) for e in events)
    assert trainer.model.drop.p == 0.0 and trainer.config.dropout == 0.0


def test_a_replan_is_shown_in_every_front_end(tmp_path):
    import io

    from rich.console import Console

    from rnngen.metrics import JsonlWriter
    from rnngen.progress import TrainingProgress
    from rnngen.tui.dashboard_state import DashboardState

    event = ReplanEvent(40, "this run trains ~30.0k tokens/s: dropout 0.2 instead of 0")
    out = io.StringIO()
    progress = TrainingProgress(Console(file=out, color_system=None, width=200))
    progress.handle(event)
    assert f"plan: {event.message}" in out.getvalue()
    writer = JsonlWriter(tmp_path / "log.jsonl")
    writer.handle_event(event)
    writer.close()
    assert json.loads((tmp_path / "log.jsonl").read_text()) == {"step": 40, "plan": event.message}
    state = DashboardState()
    state.apply(event)
    assert any(event.message in line for line, _ in state.log)
