"""Issue 16, item 1: one training run per checkpoint path.

A run holds an OS lock on its checkpoint for its whole life; a second run on the same
path (a fresh one, a resume, a --nproc job) is refused before it trains, in one line that
names the writer's pid. Readers never need the lock. The lock dies with its holder.
Every test waits on conditions (a file appears, a process exits), never on a timer.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.cli import run_cli

import rnngen
from rnngen.checkpoint import load_checkpoint
from rnngen.checkpoint_lock import claim_new_path, holder_pid, lock_checkpoint, lock_file, try_lock
from rnngen.errors import RnngenError

SMALL = [
    "--embed",
    "4",
    "--layers",
    "1",
    "--seq-len",
    "8",
    "--batch-size",
    "2",
    "--threads",
    "1",
    "--seed",
    "3",
    "--val-frac",
    "0.05",
]
FOREVER = ["--steps", "100000", "--eval-every", "1"]
REFUSED = re.compile(r"^error: (.+) is being written by another rnngen run \(pid (\d+)\)$")
WAIT_S = 180  # generous: the test machine may be busy; nothing waits this long when all is well


class Run:
    """``python -m rnngen ARGS`` in a child process, its output in files (never a full pipe)."""

    def __init__(self, folder: Path, name: str, *args):
        self.out_log, self.err_log = folder / f"{name}.out", folder / f"{name}.err"
        with open(self.out_log, "w") as out, open(self.err_log, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rnngen", *map(str, args)],
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        return self.err_log.read_text()

    def stdout(self) -> str:
        return self.out_log.read_text()

    def finish(self, timeout: float = WAIT_S) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int:
        """SIGTERM: the run saves and exits 0 (or is already gone)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.finish()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def wait_for(condition: Callable[[], bool], what: str, runs: list[Run] = ()) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {r.err_log.name}\n{r.stderr()}" for r in runs)
            raise AssertionError(f"timed out waiting until {what}\n{logs}")
        time.sleep(0.02)


def training_started(run: Run) -> bool:
    """The run announced its checkpoint (StartEvent): it is set up and training."""
    return "checkpoint:" in run.stderr()


def refusal(text: str) -> tuple[str, int]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    match = REFUSED.match(lines[0])
    assert match, lines[0]
    return match.group(1), int(match.group(2))


@pytest.fixture
def held_ckpt(tmp_path, char_ckpt) -> Path:
    out = tmp_path / "held.safetensors"
    shutil.copy(char_ckpt, out)
    return out


def test_two_runs_started_at_once_on_one_out_one_is_refused_and_named(tmp_path, english_corpus):
    out = tmp_path / "cc.safetensors"
    runs = [
        Run(tmp_path, f"h{h}", "train", english_corpus, "--out", out, "--hidden", h, *FOREVER, *SMALL) for h in (8, 12)
    ]
    try:
        # Until one of them has exited (refused) or both are training (today: both train, both "succeed").
        wait_for(
            lambda: any(r.proc.poll() is not None for r in runs) or all(map(training_started, runs)),
            "one run is refused or both train",
            runs,
        )
        exited = [r for r in runs if r.proc.poll() is not None]
        codes = [r.stop() for r in runs]
    finally:
        for r in runs:
            r.kill()
    assert sorted(codes) == [0, 1], [r.stderr() for r in runs]
    loser, winner = (runs[0], runs[1]) if codes[0] else (runs[1], runs[0])
    assert exited == [loser]
    named, pid = refusal(loser.stderr())
    assert named == str(out) and pid == winner.pid
    assert "Traceback" not in loser.stdout() + loser.stderr()
    hidden = 8 if winner is runs[0] else 12
    assert load_checkpoint(out).model_config.hidden == hidden  # the file is the winner's model


def test_a_run_is_refused_while_the_path_is_locked(tmp_path, english_corpus):
    out = tmp_path / "x.safetensors"
    with lock_checkpoint(out):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "rnngen",
                "train",
                english_corpus,
                "--out",
                out,
                "--steps",
                "2",
                "--hidden",
                "8",
                *SMALL,
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert result.returncode == 1
        assert refusal(result.stderr) == (str(out), os.getpid())
    assert not out.exists()
    assert not lock_file(out).exists()  # released and tidied


def test_resume_is_refused_while_a_real_run_writes_the_checkpoint(tmp_path, english_corpus):
    out = tmp_path / "w.safetensors"
    writer = Run(tmp_path, "writer", "train", english_corpus, "--out", out, "--hidden", "8", *FOREVER, *SMALL)
    try:
        wait_for(lambda: out.exists() or writer.proc.poll() is not None, "the writer saves", [writer])
        second = Run(tmp_path, "second", "train", english_corpus, "--resume", out, "--steps", "3", *SMALL)
        assert second.finish() == 1, second.stderr()
        assert refusal(second.stderr()) == (str(out), writer.pid)
        assert writer.proc.poll() is None  # the writer never noticed
    finally:
        code = writer.stop()
    assert code == 0, writer.stderr()
    assert load_checkpoint(out).train["step"] >= 1


def test_nproc_run_on_a_locked_path_is_refused_before_any_rank_starts(tmp_path, english_corpus):
    out = tmp_path / "ddp.safetensors"
    with lock_checkpoint(out):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "rnngen",
                "train",
                english_corpus,
                "--out",
                out,
                "--nproc",
                "2",
                "--steps",
                "2",
                "--hidden",
                "8",
                *SMALL,
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
    assert result.returncode == 1
    assert refusal(result.stderr) == (str(out), os.getpid())


def test_readers_work_while_a_run_holds_the_lock(held_ckpt, english_corpus):
    with lock_checkpoint(held_ckpt):
        assert run_cli("sample", held_ckpt, "--length", "20", "--seed", "1").stdout
        assert "LSTM" in run_cli("info", held_ckpt).stdout
        assert run_cli("eval", held_ckpt, english_corpus).stdout
        assert rnngen.load(held_ckpt).sample(length=5)


def test_two_runs_without_out_get_two_files(tmp_path, english_corpus):
    runs = [Run(tmp_path, f"d{i}", "train", english_corpus, "--hidden", "8", *FOREVER, *SMALL) for i in range(2)]
    try:
        wait_for(lambda: all(training_started(r) or r.proc.poll() is not None for r in runs), "both train", runs)
        codes = [r.stop() for r in runs]
    finally:
        for r in runs:
            r.kill()
    assert codes == [0, 0], [r.stderr() for r in runs]
    outs = [re.search(r"^checkpoint: (.+)$", r.stdout(), re.M).group(1) for r in runs]
    assert sorted(outs) == ["checkpoints/english-char-lstm-2.safetensors", "checkpoints/english-char-lstm.safetensors"]
    for name in outs:
        load_checkpoint(tmp_path / name)


def test_two_trainers_set_up_together_without_out_claim_two_names(tmp_path, english_corpus):
    """The same race, made certain: both are set up before either has saved anything."""
    from rnngen.config import train_config
    from rnngen.corpus import load_corpus
    from rnngen.training import Trainer

    corpus = load_corpus(str(english_corpus))
    config, _ = train_config(dict(steps=2, hidden=8, embed=4, layers=1, seq_len=8, batch_size=2, threads=1))
    first, second = Trainer(config, corpus), Trainer(config, corpus)
    assert (first.out, second.out) == (
        Path("checkpoints/english-char-lstm.safetensors"),
        Path("checkpoints/english-char-lstm-2.safetensors"),
    )
    first.run()
    second.run()
    assert load_checkpoint(first.out).train["step"] == load_checkpoint(second.out).train["step"] == 2


def test_sigkilled_writer_leaves_no_stale_lock(tmp_path, english_corpus):
    out = tmp_path / "k.safetensors"
    writer = Run(tmp_path, "killed", "train", english_corpus, "--out", out, "--hidden", "8", *FOREVER, *SMALL)
    try:
        wait_for(lambda: out.exists() or writer.proc.poll() is not None, "the writer saves", [writer])
        assert holder_pid(out) == writer.pid
    finally:
        writer.kill()
    assert writer.proc.returncode == -signal.SIGKILL
    assert lock_file(out).exists()  # left behind by SIGKILL, and harmless:
    step = load_checkpoint(out).train["step"]
    run_cli("train", english_corpus, "--resume", out, "--steps", step + 2, *SMALL)
    assert load_checkpoint(out).train["step"] == step + 2
    assert not lock_file(out).exists()


def test_api_releases_the_lock_after_a_run_and_after_a_failure(tmp_path, english_corpus):
    out = tmp_path / "api.safetensors"
    rnngen.train(english_corpus, out=out, steps=2, hidden=8, embed=4, layers=1, seq_len=8, batch_size=2, threads=1)
    assert try_lock(out) is not None  # released (and this lock is dropped at once)
    weights_only = out.with_name("api.best.safetensors")
    other = tmp_path / "other.safetensors"
    with pytest.raises(RnngenError, match="weights only"):
        rnngen.train(english_corpus, out=other, resume=weights_only, steps=4)
    lock = try_lock(other)  # a failed set-up gave its lock back at once, not when collected
    assert lock is not None
    lock.release()
    # A second run in the same process while the first holds the path is refused too.
    with lock_checkpoint(out), pytest.raises(RnngenError, match=f"pid {os.getpid()}"):
        rnngen.train(english_corpus, resume=out, steps=4)


def test_a_leftover_lock_file_is_never_listed_as_a_checkpoint(tmp_path, held_ckpt):
    from rnngen.tui.checkpoints import find_checkpoints

    lock_file(held_ckpt).write_text("4242\n")  # as a SIGKILLed run leaves it
    assert [c.path for c in find_checkpoints(tmp_path)] == [held_ckpt]
    lock = try_lock(held_ckpt)  # not held by anyone: taken at once
    assert lock is not None
    lock.release()


def test_claim_new_path_skips_existing_and_claimed_names(tmp_path):
    names = [tmp_path / f"n{i}.safetensors" for i in range(4)]
    names[0].write_bytes(b"exists")
    with lock_checkpoint(names[1]):
        path, lock = claim_new_path(names)
        with lock:
            assert path == names[2]
            assert claim_new_path(names)[0] == names[3]  # and is claimed itself while held
