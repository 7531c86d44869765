"""--log-jsonl contents, rnngen plot in the terminal and to PNG, --tensorboard."""

import json
import subprocess
import sys

import pytest

from rnngen.checkpoint import load_checkpoint
from rnngen.metrics import render_chart

from helpers.cli import TINY, run_cli

KEYS = {"step", "elapsed_s", "loss", "bpc", "grad_norm", "clipped", "lr", "tokens_per_s"}


def test_jsonl_has_one_object_per_step_and_val_on_eval_steps(tmp_path, english_corpus):
    out, log = tmp_path / "m.safetensors", tmp_path / "logs" / "m.jsonl"
    run_cli("train", english_corpus, "--steps", "12", "--eval-every", "4", "--out", out, "--log-jsonl", log, *TINY)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 13))
    for r in records:
        assert KEYS <= set(r)
        assert r["loss"] > 0 and r["bpc"] > 0 and r["grad_norm"] > 0 and r["lr"] > 0 and r["tokens_per_s"] > 0
    evaluated = [r["step"] for r in records if "val_loss" in r]
    assert evaluated == [4, 8, 12]
    history = {h["step"]: h for h in load_checkpoint(out).train["history"]}
    for r in records:
        if "val_loss" in r:
            assert r["val_loss"] == pytest.approx(history[r["step"]]["val_loss"], abs=1e-5)
            assert r["val_bpc"] == pytest.approx(history[r["step"]]["val_bpc"], abs=1e-5)
    # Resuming appends to the same log.
    run_cli("train", english_corpus, "--resume", out, "--steps", "14", "--log-jsonl", log, "--threads", "1")
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()][-2:] == [13, 14]


def test_plot_draws_in_the_terminal(tmp_path):
    log = tmp_path / "run.jsonl"
    rows = [{"step": s, "loss": 4.0 - s / 50, "bpc": 5.0 - s / 40} for s in range(1, 101)]
    rows[49]["val_loss"] = 3.2
    rows[99]["val_loss"] = 2.1
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"step\": 101, \"lo")  # torn last line
    out = run_cli("plot", log, "--width", "60", "--height", "10").output
    lines = out.splitlines()
    assert "100 steps logged" in lines[0] and "best val loss 2.1000 at step 100" in lines[0]
    chart = lines[1:11]
    assert chart[0].lstrip().startswith("3.980") and chart[-1].lstrip().startswith("2.000")
    assert "·" in chart[0] and chart[-1].rstrip().endswith("●")  # falling train curve, last val lowest
    assert sum(line.count("●") for line in chart) == 2
    assert "train loss" in out and "val loss" in out
    bpc = run_cli("plot", log, "--metric", "bpc", "--width", "60").output
    assert "bpc" in bpc and "val bpc" not in bpc


def test_plot_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{}\n")
    result = run_cli("plot", bad, ok=False)
    assert result.exit_code == 1 and "not a JSON line" in result.output
    result = run_cli("plot", tmp_path / "missing.jsonl", ok=False)
    assert result.exit_code == 1 and "does not exist" in result.output


def test_render_chart_flat_series():
    lines = render_chart([(1, 2.0), (2, 2.0)], [], width=30, height=5)
    assert len(lines) == 8 and any("·" in line for line in lines)


def test_plot_png(tmp_path):
    log = tmp_path / "run.jsonl"
    log.write_text("\n".join(json.dumps({"step": s, "loss": 3 - s / 10, "val_loss": 3.1 - s / 10}) for s in range(1, 20)))
    png = tmp_path / "c.png"
    run_cli("plot", log, "--png", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensorboard_scalars_and_histograms(tmp_path, english_corpus):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tmp_path / "tb"
    run_cli("train", english_corpus, "--steps", "3", "--out", tmp_path / "m.safetensors", "--tensorboard", tb, *TINY)
    acc = EventAccumulator(str(tb), size_guidance={"histograms": 0, "scalars": 0}).Reload()
    assert len(acc.Scalars("train/loss")) == 3 and acc.Scalars("val/loss")
    assert "grad/rnn.weight_hh_l0" in acc.Tags()["histograms"]


def test_tensorboard_missing_is_a_clear_error(tmp_path, english_corpus):
    # The test extra installs tensorboard: the CLI runs in a process where it cannot be imported
    # (a None entry in sys.modules makes "import tensorboard" raise ImportError, as if absent).
    without_tensorboard = "import sys; sys.modules['tensorboard'] = None; from rnngen.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", without_tensorboard, "train", str(english_corpus), "--steps", "2",
         "--tensorboard", str(tmp_path / "tb"), *TINY],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "rnngen[tensorboard]" in lines[0], result.stderr
    assert not (tmp_path / "checkpoints").exists()
