"""Data-parallel training: 2 (or 4) CPU processes (gloo), via ``train --nproc N``.

Faults (a killed rank, Ctrl-C, NaN on one rank) and the network check are in
tests/reliability/test_distributed_faults.py."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from rnngen.checkpoint import load_checkpoint
from rnngen.cli.launcher import relaunch_args
from rnngen.local_ranks import rank_command

from helpers.cli import TINY, run_cli
from helpers.ddp import DDP_ARGS as ARGS
from helpers.ddp import run_rnngen

# What docs/reference.md promises: N processes and one agree to float32 rounding, 1e-6 on
# every tensor of the checkpoint (weights of magnitude ~5 differ by an ulp, ~5e-7, so 1e-7 is
# more than rounding allows).
TOLERANCE = 1e-6


def _max_diff(a, b) -> float:
    ta, tb = load_checkpoint(a).tensors, load_checkpoint(b).tensors
    assert set(ta) == set(tb)
    return max((ta[k].float() - tb[k].float()).abs().max().item() for k in ta if k != "train.rng")


def _ddp(*args, nproc: int = 2) -> subprocess.CompletedProcess:
    result = run_rnngen("train", *args, "--nproc", nproc)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_two_processes_match_one_process_and_resume(tmp_path, english_corpus):
    single, ddp = tmp_path / "single.safetensors", tmp_path / "ddp.safetensors"
    run_cli("train", english_corpus, "--steps", "12", "--out", single, *ARGS)
    result = _ddp(english_corpus, "--steps", "12", "--out", ddp, "--log-jsonl", tmp_path / "ddp.jsonl", *ARGS)
    # Rank 0 alone reports: one final "checkpoint:" line, one log line per step.
    assert result.stdout.count("checkpoint:") == 1
    lines = (tmp_path / "ddp.jsonl").read_text().splitlines()
    assert len(lines) == 12

    ckpt = load_checkpoint(ddp)
    assert ckpt.train["step"] == 12 and ckpt.train["world_size"] == 2
    assert ckpt.train["tokens_seen"] == load_checkpoint(single).train["tokens_seen"]
    # Gradients averaged over the two ranks' disjoint streams = one process on all streams.
    assert ckpt.tensors["train.state.0"].shape[1] == 4  # both ranks' hidden states are saved
    assert _max_diff(single, ddp) < TOLERANCE

    # Resume with the same N continues exactly like a resumed single process.
    run_cli("train", english_corpus, "--resume", single, "--steps", "18", "--threads", "1")
    _ddp(english_corpus, "--resume", ddp, "--steps", "18", "--threads", "1")
    assert load_checkpoint(ddp).train["step"] == 18
    assert _max_diff(single, ddp) < TOLERANCE


def test_batch_must_split_evenly(tmp_path, english_corpus):
    args = [a if a != "4" or i != TINY.index("--batch-size") + 1 else "3" for i, a in enumerate(TINY)]
    out = tmp_path / "x.safetensors"
    result = run_rnngen("train", english_corpus, "--steps", "2", "--out", out, *args, "--nproc", "2", timeout=120)
    assert result.returncode == 1
    # Every rank finds the problem; the user reads it once (rank 0's line), with no traceback.
    assert result.stderr.strip().splitlines() == [
        "error: the batch of 3 streams does not split evenly over 2 processes: give --batch-size a multiple of 2"
    ]


def test_relaunch_args_rebuild_the_typed_command(english_corpus):
    from rnngen.cli.training import train

    ctx = train.make_context(
        "train",
        [str(english_corpus), "--nproc", "2", "--steps", "5", "--no-tie", "--model", "gru", "--log-jsonl", "run.jsonl"],
    )
    assert relaunch_args(ctx) == [
        "train",
        str(english_corpus),
        "--model",
        "gru",
        "--no-tie",
        "--steps",
        "5",
        "--log-jsonl",
        "run.jsonl",
    ]
    cmd = rank_command(relaunch_args(ctx))
    assert cmd[:5] == [sys.executable, "-m", "rnngen", "train", str(english_corpus)]


def test_the_docs_promise_the_tolerance_the_test_checks():
    reference = (Path(__file__).resolve().parents[2] / "docs" / "reference.md").read_text(encoding="utf-8")
    claim = re.search(r"a 2-process run's weights match a 1-process run's\s+to (\S+)", reference)
    assert claim and float(claim.group(1)) == TOLERANCE, claim and claim.group(0)


def test_two_processes_with_a_time_budget(tmp_path, english_corpus):
    out, log = tmp_path / "t.safetensors", tmp_path / "t.jsonl"
    result = _ddp(english_corpus, "--time", "3s", "--out", out, "--log-jsonl", log, *ARGS)
    assert "stopped at step" not in result.stdout
    saved = load_checkpoint(out).train
    # Both ranks ended on the same step (or the job would hang), when rank 0's clock said so.
    assert saved["world_size"] == 2 and saved["step"] > 0
    assert saved["elapsed_s"] >= 3.0
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == list(range(1, saved["step"] + 1))


def test_resume_with_a_different_number_of_processes_continues_the_same_run(tmp_path, english_corpus):
    """docs/reference.md: "any N that divides the batch, or a single process, can resume it"."""
    whole = tmp_path / "whole.safetensors"
    run_cli("train", english_corpus, "--steps", "12", "--out", whole, *ARGS)

    two = tmp_path / "two.safetensors"  # 2 processes, then 1 process and 4 processes
    _ddp(english_corpus, "--steps", "6", "--out", two, *ARGS)
    two_then_one = tmp_path / "two-one.safetensors"
    shutil.copy(two, two_then_one)
    run_cli("train", english_corpus, "--resume", two_then_one, "--steps", "12", "--threads", "1")
    _ddp(english_corpus, "--resume", two, "--steps", "12", "--threads", "1", nproc=4)

    one = tmp_path / "one.safetensors"  # 1 process, then 2 processes
    run_cli("train", english_corpus, "--steps", "6", "--out", one, *ARGS)
    _ddp(english_corpus, "--resume", one, "--steps", "12", "--threads", "1")

    assert load_checkpoint(two).train["world_size"] == 4 and load_checkpoint(one).train["world_size"] == 2
    for resumed in (two_then_one, two, one):
        assert load_checkpoint(resumed).train["step"] == 12
        assert _max_diff(whole, resumed) < TOLERANCE, resumed.name
