"""Issue 16, items 3 and 4: ``train --nproc 2`` (gloo, CPU) under faults, and what it opens to
the network. Every test runs the real launcher and real rank processes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from rnngen.checkpoint import load_checkpoint

from helpers.ddp import (
    DDP_ARGS,
    alive,
    ddp_env,
    descendants,
    environ,
    is_loopback,
    listening_sockets,
    ranks_of,
    run_rnngen,
    started,
    wait_for,
)

LONG = ["--steps", "100000", "--eval-every", "2"]
# What torchrun's agent prints (glog-style "W1202 21:44:40.479000 ..."), and its traceback.
TORCHRUN_NOISE = re.compile(r"^[WEIF]\d{4} \d\d:\d\d|SignalException|ChildFailedError|torch\.distributed", re.M)


def _wait_training(proc: subprocess.Popen, out: Path) -> dict[int, int]:
    """Wait until both ranks train and the first checkpoint is on disk; their pids by rank."""
    wait_for(lambda: out.exists() or proc.poll() is not None, "the first checkpoint")
    assert proc.poll() is None, "the run ended before it was interrupted"
    ranks = wait_for(lambda: (r := ranks_of(proc.pid)) and len(r) == 2 and r, "two rank processes")
    proc.tracked.update(ranks.values())  # killed when the test ends, whatever happens
    return ranks


# ---- SIGKILL of one rank -----------------------------------------------------------------


def test_a_killed_rank_ends_the_job_with_one_line_and_a_whole_checkpoint(tmp_path, english_corpus):
    out = tmp_path / "k.safetensors"
    with started(["train", english_corpus, *LONG, "--out", out, *DDP_ARGS, "--nproc", "2"], tmp_path / "log") as proc:
        ranks = _wait_training(proc, out)
        os.kill(ranks[1], signal.SIGKILL)
        code = proc.wait(timeout=30)  # no hang: the survivors are stopped
        text = (tmp_path / "log").read_text()
        assert code != 0, text
        assert not any(alive(pid) for pid in ranks.values()), "a rank outlived the job"
    assert "Traceback" not in text and not TORCHRUN_NOISE.search(text), text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, text
    assert "rank 1" in errors[0] and "SIGKILL" in errors[0], errors[0]

    saved = load_checkpoint(out)  # whole: loads, and resumes
    assert saved.resumable and saved.train["world_size"] == 2
    step = int(saved.train["step"])
    single = tmp_path / "single.safetensors"
    shutil.copy(out, single)
    again = run_rnngen("train", english_corpus, "--resume", out, "--steps", step + 4, "--nproc", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert load_checkpoint(out).train["step"] == step + 4
    alone = run_rnngen("train", english_corpus, "--resume", single, "--steps", step + 4)
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert load_checkpoint(single).train["step"] == step + 4


# ---- Ctrl-C / SIGTERM to the launcher ---------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_stops_every_rank_with_one_checkpoint_and_rnngens_lines_only(tmp_path, english_corpus, sig):
    out = tmp_path / "s.safetensors"
    with started(["train", english_corpus, *LONG, "--out", out, *DDP_ARGS, "--nproc", "2"], tmp_path / "log") as proc:
        ranks = _wait_training(proc, out)
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=120)
        text = (tmp_path / "log").read_text()
        assert code == 0, text
        assert not any(alive(pid) for pid in ranks.values()), "a rank outlived the job"
    assert "Traceback" not in text and not TORCHRUN_NOISE.search(text), text
    stopped = re.findall(r"^stopped at step (\d+); continue with: rnngen train .* --resume .*$", text, re.M)
    assert len(stopped) == 1, text
    after_stop = text.split("stopping: saving a checkpoint", 1)[1]  # what rank 0 says once asked to stop
    assert after_stop.count("checkpoint: ") == 1, text
    assert load_checkpoint(out).train["step"] == int(stopped[0])  # the stop was saved
    assert not [line for line in text.splitlines() if line.startswith("error")], text


# ---- NaN on one rank ----------------------------------------------------------------------

# Loaded by every process of the job (PYTHONPATH): rank 1 alone sees a NaN loss on its Nth
# training window, with finite gradients, so only that rank knows something went wrong.
POISON = """
import os
if os.environ.get("RANK") == "1":
    import torch.nn.functional as F
    _real, _calls = F.cross_entropy, [0]
    def _poisoned(*args, **kwargs):
        loss = _real(*args, **kwargs)
        _calls[0] += 1
        return loss + float("nan") if _calls[0] == int(os.environ["POISON_STEP"]) else loss
    F.cross_entropy = _poisoned
"""


def _poisoned_env(tmp_path: Path, step: int) -> dict[str, str]:
    folder = tmp_path / "poison"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(POISON)
    return ddp_env(PYTHONPATH=os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]), POISON_STEP=str(step))


def test_nan_on_one_rank_stops_all_ranks_on_the_same_step_exit_3(tmp_path, english_corpus):
    out = tmp_path / "n.safetensors"
    result = run_rnngen(
        "train",
        english_corpus,
        "--steps",
        "12",
        "--eval-every",
        "2",
        "--out",
        out,
        *DDP_ARGS,
        "--nproc",
        "2",
        env=_poisoned_env(tmp_path, 5),
        timeout=240,
    )
    assert result.returncode == 3, result.stderr[-3000:]
    assert "step 5: the loss is NaN or infinite on another process" in result.stderr  # rank 0 tells what rank 1 saw
    assert "training diverged at step 5" in result.stderr
    assert "Traceback" not in result.stderr and not TORCHRUN_NOISE.search(result.stderr), result.stderr
    assert load_checkpoint(out).train["step"] == 4  # the last good step, saved by all ranks together


def test_nan_on_one_rank_with_on_nan_skip_skips_on_every_rank(tmp_path, english_corpus):
    out = tmp_path / "k.safetensors"
    result = run_rnngen(
        "train",
        english_corpus,
        "--steps",
        "10",
        "--out",
        out,
        *DDP_ARGS,
        "--on-nan",
        "skip",
        "--nproc",
        "2",
        env=_poisoned_env(tmp_path, 5),
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = load_checkpoint(out).train
    # Rank 0 (which writes the checkpoint) skipped the step with rank 1 and halved its rate too.
    assert (saved["step"], saved["lr_scale"]) == (10, 0.5), result.stderr[-3000:]


# ---- nothing listens beyond loopback -----------------------------------------------------


def test_the_socket_reader_sees_loopback_and_wildcard_listeners():
    """The check below can fail: it does see a listener on every interface."""
    with socket.socket() as anywhere, socket.socket() as local:
        anywhere.bind(("0.0.0.0", 0))
        anywhere.listen()
        local.bind(("127.0.0.1", 0))
        local.listen()
        found = {port: ip for ip, port in listening_sockets(os.getpid())}
        assert not is_loopback(found[anywhere.getsockname()[1]])
        assert is_loopback(found[local.getsockname()[1]])


def test_nproc_listens_on_loopback_only_and_meets_in_a_private_folder(tmp_path, english_corpus):
    out = tmp_path / "l.safetensors"
    with started(["train", english_corpus, *LONG, "--out", out, *DDP_ARGS, "--nproc", "2"], tmp_path / "log") as proc:
        ranks = _wait_training(proc, out)
        job = [proc.pid, *descendants(proc.pid)]
        open_to_network = {
            pid: [f"{ip}:{port}" for ip, port in listening_sockets(pid) if not is_loopback(ip)] for pid in job
        }
        assert not any(open_to_network.values()), open_to_network
        # The ranks meet through a file in a folder only this user can enter.
        init = environ(ranks[0]).get("RNNGEN_INIT_METHOD", "")
        assert init.startswith("file://"), init
        folder = Path(init[len("file://") :]).parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    assert not folder.exists()  # cleaned up


def test_ranks_stop_and_save_when_the_launcher_is_killed(tmp_path, english_corpus):
    """SIGKILL to ``rnngen`` itself (nothing can catch it): the ranks notice, stop together and save."""
    out = tmp_path / "o.safetensors"
    with started(["train", english_corpus, *LONG, "--out", out, *DDP_ARGS, "--nproc", "2"], tmp_path / "log") as proc:
        ranks = _wait_training(proc, out)
        folder = Path(environ(ranks[0])["RNNGEN_INIT_METHOD"].removeprefix("file://")).parent
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_for(lambda: not any(alive(pid) for pid in ranks.values()), "the ranks to stop")
    assert not folder.exists()  # rank 0 removed the private folder the launcher could not
    text = (tmp_path / "log").read_text()  # rank 0 wrote to the launcher's output
    stopped = re.findall(r"^stopped at step (\d+); continue with", text, re.M)
    assert len(stopped) == 1, text
    assert load_checkpoint(out).train["step"] == int(stopped[0])
