"""The training dashboard (``rnngen train --tui``): Pilot runs of real training, a layout
snapshot, forced divergence, and the real command in a real terminal (tmux)."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnngen.checkpoint import load_checkpoint
from rnngen.corpus import load_corpus
from rnngen.evaluation import EvalResult
from rnngen.live import LiveSession, PausedEvent, PreviewEvent, ProbeEvent, gradient_through_time
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.training import (
    AlarmEvent, DoneEvent, EvalEvent, SavedEvent, StartEvent, StepEvent, TrainConfig, Trainer,
)
from rnngen.tui.dashboard import TrainingDashboard
from rnngen.tui.launch import build_session

TINY = dict(cell="lstm", hidden=16, embed=8, layers=1, seq_len=16, batch_size=4, threads=1, seed=3)


def screen_text(app: TrainingDashboard) -> str:
    """Everything the panels show right now, as plain text."""
    parts = [str(app.query_one("#status").render())]
    for panel in ("loss", "grad", "gtt", "hidden", "sample", "log"):
        parts.append(str(app.query_one(f"#{panel}").render()))
    return "\n".join(parts)


async def wait_for(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the dashboard")
        await pilot.pause(0.05)


# ---- Pilot: real training in the dashboard ----------------------------------------------------


def test_training_runs_to_completion_and_stays_open(english_corpus, tmp_path):
    out = tmp_path / "run.safetensors"
    config = TrainConfig(**TINY, steps=40, eval_every=20)
    session = build_session(config, load_corpus(str(english_corpus)), out=out, probe_every_s=0.2)

    async def scenario():
        app = TrainingDashboard(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.state.done is not None)
            await pilot.pause(0.4)  # a redraw after the end
            text = screen_text(app)
            assert app.is_running, "the dashboard stays open on the final state"
            assert "BUDGET" in text and "step 40/40" in text
            assert "val" in text and app.state.val_loss, "validation loss is shown"
            assert "h1/hT" in text, "the gradient-through-time panel shows the decay ratio"
            assert "rnn.weight_hh_l0" in text, "per-parameter gradient norms are listed"
            assert app.state.preview is not None and app.state.preview.step == 40
            assert len(app.frames) >= 2
            # temperature changes re-sample from the final weights
            await pilot.press("plus")
            await wait_for(pilot, lambda: app.state.preview.temperature == pytest.approx(0.9))
            await pilot.press("q")
        return app

    app = asyncio.run(scenario())
    assert app.return_code == 0
    assert load_checkpoint(out).train["step"] == 40


def test_pause_resume_save_stop_quit(english_corpus, tmp_path):
    out = tmp_path / "ctl.safetensors"
    config = TrainConfig(**TINY, steps=100_000, eval_every=100_000)
    session = build_session(config, load_corpus(str(english_corpus)), out=out, probe_every_s=0.5)

    async def scenario():
        app = TrainingDashboard(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: session.trainer.step >= 5)
            await pilot.press("p")
            await wait_for(pilot, lambda: app.state.paused)
            paused_at = session.trainer.step
            await pilot.pause(0.3)
            assert session.trainer.step == paused_at, "no steps while paused"
            assert "PAUSED" in screen_text(app)

            await pilot.press("s")  # save now, even while paused
            await wait_for(pilot, lambda: out.exists())
            assert load_checkpoint(out).train["step"] == paused_at

            await pilot.press("p")
            await wait_for(pilot, lambda: session.trainer.step > paused_at + 3)
            assert not app.state.paused

            await pilot.press("x")  # stop: saves, keeps the final state on screen
            await wait_for(pilot, lambda: app.state.done is not None)
            await pilot.pause(0.3)
            assert app.state.done.reason == "stopped"
            assert app.is_running and "STOPPED" in screen_text(app)
            stopped_at = session.trainer.step
            assert load_checkpoint(out).train["step"] == stopped_at
            await pilot.press("q")
        return app

    app = asyncio.run(scenario())
    assert app.return_code == 0
    assert not session.running


def test_quit_while_training_saves_first(english_corpus, tmp_path):
    out = tmp_path / "q.safetensors"
    config = TrainConfig(**TINY, steps=100_000, eval_every=100_000)
    session = build_session(config, load_corpus(str(english_corpus)), out=out, probe_every_s=5)

    async def scenario():
        app = TrainingDashboard(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: session.trainer.step >= 3)
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running)
        return app

    app = asyncio.run(scenario())
    assert app.return_code == 0
    assert session.finished.is_set() and session.done.reason == "stopped"
    assert load_checkpoint(out).train["step"] == session.done.step


# ---- divergence ---------------------------------------------------------------------------------


def test_divergence_raises_alarm_and_keeps_last_good_checkpoint(english_corpus, tmp_path):
    out = tmp_path / "div.safetensors"
    config = TrainConfig(cell="gru", hidden=16, embed=8, layers=1, seq_len=16, batch_size=4, threads=1,
                         steps=50, lr=1e6, clip=0.0, warmup_steps=0, schedule="constant", eval_every=1000)
    session = build_session(config, load_corpus(str(english_corpus)), out=out, probe_every_s=5)

    async def scenario():
        app = TrainingDashboard(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.state.done is not None)
            await pilot.pause(0.3)
            text = screen_text(app)
            await pilot.press("q")
        return app, text

    app, text = asyncio.run(scenario())
    alarm = app.state.alarm
    assert alarm is not None and app.state.done.reason == "diverged"
    assert f"ALARM step {alarm.step}" in text, "the alarm names the step"
    assert f"parameter: {alarm.parameter}" in text and alarm.parameter in text, "…and the parameter"
    assert alarm.parameter != "loss" and alarm.parameter in dict(RNNLanguageModel(
        ModelConfig(cell="gru", vocab_size=session.trainer.tokenizer.vocab_size, embed=8, hidden=16, layers=1)
    ).named_parameters())
    assert app.return_code == 3
    saved = load_checkpoint(out)
    assert saved.train["step"] == alarm.step - 1, "the checkpoint is the last good step"
    for name, tensor in saved.tensors.items():
        if tensor.is_floating_point():
            assert torch.isfinite(tensor).all(), f"{name} holds NaN/Inf"


# ---- snapshot of the layout (fed with a fixed sequence of events: no timing involved) -------------


def fixed_events(tmp: Path) -> list:
    config = TrainConfig(**TINY, steps=200, lr=3e-3, warmup_steps=10, clip=1.0)  # as planned
    mc = ModelConfig(cell="lstm", vocab_size=30, embed=8, hidden=16, layers=1)
    events: list = [StartEvent(config=config, model_config=mc, parameters=3_742, train_tokens=9_000, val_tokens=1_000,
                               vocab_size=30, start_step=0, total_steps=200, time_budget_s=None, out=tmp / "snap.safetensors")]
    names = ["embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
             "head.weight", "head.bias"]
    for step in range(1, 121):
        loss = 3.4 * math.exp(-step / 60) + 1.2 + 0.05 * math.sin(step)
        g = 0.5 + 0.8 * math.exp(-step / 30) + 0.1 * math.sin(step / 3)
        events.append(StepEvent(step=step, loss=loss, bpc=loss / math.log(2), grad_norm=g, clipped=g > 1.0,
                                lr=3e-3, tokens_per_s=12_345.0, elapsed_s=step * 0.01, progress=step / 200,
                                eta_s=(200 - step) * 0.01,
                                param_grad_norms={n: g * (i + 1) / 7 for i, n in enumerate(names)}))
        if step % 40 == 0:
            val = EvalResult(tokens=999, loss=loss + 0.1, perplexity=math.exp(loss + 0.1), bpc=(loss + 0.1) / math.log(2))
            events.append(EvalEvent(step=step, train_loss=loss, val=val, best=True))
            events.append(SavedEvent(step=step, path=tmp / "snap.safetensors", best_path=None))
    T, H = 64, 16
    events.append(ProbeEvent(step=0, grad_norms=[[0.6 ** (T - t) for t in range(T)]],
                             hidden=[[0.0] * H for _ in range(T)], tokens=["a"] * T,
                             decay_ratio=0.6 ** (T - 1), seconds=0.01))
    events.append(ProbeEvent(step=120, grad_norms=[[0.9 ** (T - t) for t in range(T)]],
                             hidden=[[math.sin(t / 5 + u) for u in range(H)] for t in range(T)], tokens=["a"] * T,
                             decay_ratio=0.9 ** (T - 1), seconds=0.01))
    events.append(PreviewEvent(step=120, text="First Citizen:\nSpeak, speak, and hear me.\n\nAll:\nResolved.",
                               temperature=0.8))
    events.append(PausedEvent(step=120, paused=True))
    return events


def test_dashboard_layout_snapshot(snap_compare, tmp_path):
    app = TrainingDashboard(None)
    for event in fixed_events(Path("/ckpt")):
        app.feed(event)

    async def settle(pilot):
        app.redraw(force=True)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)


def test_alarm_banner_is_rendered_from_events():
    app = TrainingDashboard(None)
    for event in fixed_events(Path("/ckpt")):
        app.state.apply(event)
    app.state.apply(AlarmEvent(step=121, message="step 121: the gradient of rnn.weight_hh_l0 is NaN or infinite; "
                               "the update was not applied", parameter="rnn.weight_hh_l0"))
    app.state.apply(DoneEvent(step=120, reason="diverged", out=Path("/ckpt/x.safetensors"), best_path=None, val=None))
    status = str(app.render_status())
    assert "ALARM step 121" in status and "rnn.weight_hh_l0" in status and "DIVERGED" in status
    assert app.exit_code_for_state() == 3


# ---- the inspection numbers behind the panels ---------------------------------------------------


def test_gradient_through_time_vanishes_for_rnn_not_for_lstm():
    torch.manual_seed(0)
    ratios = {}
    for cell in ("rnn", "lstm"):
        model = RNNLanguageModel(ModelConfig(cell=cell, vocab_size=20, embed=8, hidden=32, layers=2))
        x = torch.randint(0, 20, (49,))
        unroll = gradient_through_time(model, x)
        assert len(unroll.grad_norms) == 2 and len(unroll.grad_norms[0]) == 48
        assert len(unroll.hidden) == 48 and len(unroll.hidden[0]) == 32
        assert all(g.grad is None for g in model.parameters()), "probes never touch parameter gradients"
        ratios[cell] = unroll.decay_ratio
    assert ratios["rnn"] < ratios["lstm"]


def test_live_session_without_ui_is_identical_to_plain_training(english_corpus, tmp_path):
    """Probes and previews must not change the training run (they use no global RNG)."""
    corpus = load_corpus(str(english_corpus))
    config = TrainConfig(**dict(TINY, dropout=0.2, layers=2), steps=25, eval_every=10)
    plain = Trainer(config, corpus, out=tmp_path / "plain.safetensors")
    plain.run()
    live = LiveSession(Trainer(config, corpus, out=tmp_path / "live.safetensors"), probe_every_s=0.0)
    live.run()
    a, b = plain.model.state_dict(), live.trainer.model.state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# ---- a real terminal -------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tui_in_tmux_reads_loss_and_gradient_panels(english_corpus, tmp_path):
    session = f"rnngen-test-{tmp_path.name}"[:60].replace(".", "-")
    tmux = ["tmux", "-L", f"{session}-server", "-f", "/dev/null"]  # a private server: no shared window size
    rnngen = Path(sys.executable).with_name("rnngen")
    out = tmp_path / "tmux.safetensors"
    code_file = tmp_path / "exit-code"
    command = (f"{rnngen} train {english_corpus} --tui --steps 60 --eval-every 20 --hidden 16 --embed 8 --layers 1 "
               f"--seq-len 16 --batch-size 4 --threads 1 --out {out}; echo $? > {code_file}; sleep 20")
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command], check=True,
                   env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")})
    try:
        screen = ""
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True).stdout
            if "BUDGET" in screen:
                break
            time.sleep(0.3)
        assert "BUDGET" in screen, screen
        assert "loss (train" in screen and "val" in screen
        assert "gradient norm" in screen and "before clip" in screen
        assert "gradient through time" in screen and "h1/hT" in screen
        assert "step 60/60" in screen
        subprocess.run([*tmux, "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 15
        while not code_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert code_file.read_text().strip() == "0"
        assert load_checkpoint(out).train["step"] == 60
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
