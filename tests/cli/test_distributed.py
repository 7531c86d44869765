"""Data-parallel training: 2 CPU processes (gloo) under torchrun, via ``train --nproc 2``."""

import os
import subprocess
import sys

from rnngen.checkpoint import load_checkpoint
from rnngen.cli.launcher import relaunch_args
from rnngen.training.distributed import torchrun_command

from helpers.cli import TINY, run_cli

# fp32: bf16 autocast (on CPUs that have it) would blur the comparison with one process.
ARGS = [*TINY, "--precision", "fp32", "--dropout", "0"]


def _max_diff(a, b) -> float:
    ta, tb = load_checkpoint(a).tensors, load_checkpoint(b).tensors
    assert set(ta) == set(tb)
    return max((ta[k].float() - tb[k].float()).abs().max().item() for k in ta if k != "train.rng")


def _ddp(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "rnngen", "train", *map(str, args), "--nproc", "2"],
                            capture_output=True, text=True, env=env, timeout=240)
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
    assert _max_diff(single, ddp) < 1e-5

    # Resume with the same N continues exactly like a resumed single process.
    run_cli("train", english_corpus, "--resume", single, "--steps", "18", "--threads", "1")
    _ddp(english_corpus, "--resume", ddp, "--steps", "18", "--threads", "1")
    assert load_checkpoint(ddp).train["step"] == 18
    assert _max_diff(single, ddp) < 1e-5


def test_batch_must_split_evenly(tmp_path, english_corpus):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = [a if a != "4" or i != TINY.index("--batch-size") + 1 else "3" for i, a in enumerate(TINY)]
    result = subprocess.run([sys.executable, "-m", "rnngen", "train", str(english_corpus), "--steps", "2",
                             "--out", str(tmp_path / "x.safetensors"), *args, "--nproc", "2"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    assert "multiple of 2" in result.stderr


def test_relaunch_args_rebuild_the_typed_command(english_corpus):
    from rnngen.cli.training import train

    ctx = train.make_context("train", [str(english_corpus), "--nproc", "2", "--steps", "5", "--no-tie",
                                       "--model", "gru", "--log-jsonl", "run.jsonl"])
    assert relaunch_args(ctx) == ["train", str(english_corpus), "--model", "gru", "--no-tie", "--steps", "5",
                                  "--log-jsonl", "run.jsonl"]
    cmd = torchrun_command(2, relaunch_args(ctx))
    assert cmd[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m"]
    assert cmd[6:8] == ["rnngen", "train"]
