"""Issue 6: nothing lost, nothing crashes, nothing unsafe loads.

Each test tries to break one promise: SIGKILL at random moments (also mid-write), clean
stops on SIGINT/SIGTERM, faithful resume, NaN/Inf divergence, a full disk while saving,
stale temporary files, and no pickle anywhere.
"""

from __future__ import annotations

import errno
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers.cli import ENGLISH, TINY, run_cli
from helpers.reliability import fork_cli, wait_exit

import rnngen.atomic_files as atomic_files
import rnngen.checkpoint as checkpoint_module
from rnngen.atomic_files import temp_owner_pid
from rnngen.checkpoint import load_checkpoint, save_checkpoint
from rnngen.corpus import Corpus, load_corpus
from rnngen.errors import RnngenError
from rnngen.training import AlarmEvent, StepEvent, TrainConfig, Trainer

REPO = Path(__file__).resolve().parents[2]
FAST = ["--hidden", "8", "--embed", "4", "--layers", "1", "--seq-len", "8", "--batch-size", "2",
        "--threads", "1", "--seed", "3", "--val-frac", "0.05"]


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".tmp-" in p.name)


def _assert_absent_or_complete(path: Path, *, resumable: bool) -> int | None:
    """The promise: a checkpoint path holds nothing or a complete, loadable checkpoint."""
    if not path.exists():
        return None
    ckpt = load_checkpoint(path)  # raises RnngenError if torn, truncated or corrupt
    ckpt.build_model()
    assert ckpt.resumable == resumable
    return int(ckpt.train["step"])


# ---- 1. atomic checkpoints under SIGKILL -----------------------------------------------


def _state(pid: int) -> str:
    """The process state letter from /proc (R running, S sleeping, T stopped...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _writing(pid: int, folder: Path) -> bool:
    """True while ``pid`` has a temporary checkpoint file in ``folder`` (between create and rename)."""
    return any(temp_owner_pid(name) == pid for name in os.listdir(folder))


def _freeze_mid_write(pid: int, folder: Path, timeout: float = 60.0) -> None:
    """Stop ``pid`` (SIGSTOP) at a moment it is inside a checkpoint write.

    Whenever its temporary file appears the child is frozen; if the write finished before the
    freeze took, it is let go and caught at a later save. Every run saves each step, so this
    ends at once; the deadline only bounds a run that stopped saving.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _writing(pid, folder):
            os.kill(pid, signal.SIGSTOP)
            while (state := _state(pid)) not in ("T", "t"):  # until the stop has taken effect
                if state in ("Z", "X"):
                    raise AssertionError(f"child {pid} died while being frozen")
            if _writing(pid, folder):
                return
            os.kill(pid, signal.SIGCONT)
        if os.waitpid(pid, os.WNOHANG)[0]:
            raise AssertionError(f"child {pid} exited before it could be caught writing")
    raise AssertionError(f"child {pid} never wrote a checkpoint in {timeout}s")


def _sigkill_trials(tmp_path: Path, corpus: Path, trials: int, seed: int) -> dict:
    """Kill training again and again (each run resumes the last): every other kill inside a
    checkpoint write for certain (the child frozen with its temporary file open), the others
    at a random moment (set-up, forward, backward, eval or save). The first run is killed once
    it has saved, so every later run resumes."""
    rng = random.Random(seed)
    out = tmp_path / "k.safetensors"
    best = tmp_path / "k.best.safetensors"
    last_step, mid_write, resumed = 0, 0, 0
    for trial in range(trials):
        resume = out.exists()
        args = ["train", corpus, "--steps", "100000", "--eval-every", "1", *FAST]
        args += ["--resume", out] if resume else ["--out", out]
        resumed += resume
        log = tmp_path / "trial.log"
        pid = fork_cli(args, log)
        if trial == 0:
            deadline = time.monotonic() + 60
            while not out.exists() and time.monotonic() < deadline and not os.waitpid(pid, os.WNOHANG)[0]:
                time.sleep(0.01)
            assert out.exists(), log.read_text()
        elif trial % 2:
            _freeze_mid_write(pid, tmp_path)
        else:
            time.sleep(rng.uniform(0.0, 0.4))  # a random moment; nothing below depends on which
        os.kill(pid, signal.SIGKILL)
        code, sig = wait_exit(pid)
        assert sig == signal.SIGKILL, f"trial {trial}: the run ended by itself ({code}): {log.read_text()}"
        if any(temp_owner_pid(p.name) == pid for p in _temps(tmp_path)):
            mid_write += 1
        elif trial % 2:
            raise AssertionError(f"trial {trial}: the kill was meant to land inside a write")
        step = _assert_absent_or_complete(out, resumable=True)
        _assert_absent_or_complete(best, resumable=False)
        if step is not None:
            assert step >= last_step, f"trial {trial}: went back from step {last_step} to {step}"
            last_step = step
    return {"last_step": last_step, "mid_write": mid_write, "resumed": resumed, "out": out}


def test_sigkill_at_random_moments_never_leaves_a_torn_checkpoint(tmp_path, english_corpus):
    result = _sigkill_trials(tmp_path, english_corpus, trials=24, seed=6)
    out = result["out"]
    assert result["resumed"] == 23, result  # the chain resumed from every killed run
    assert result["mid_write"] >= 12, result  # every aimed kill landed inside a write
    # A final resume finishes normally and tidies the temporary files the kills left behind.
    target = result["last_step"] + 3
    run_cli("train", english_corpus, "--resume", out, "--steps", target, *FAST)
    assert load_checkpoint(out).train["step"] == target
    assert _temps(tmp_path) == []


@pytest.mark.slow
def test_sigkill_soak_many_trials(tmp_path, english_corpus):
    """The longer version: 80 kills."""
    result = _sigkill_trials(tmp_path, english_corpus, trials=80, seed=11)
    assert result["mid_write"] >= 40 and result["resumed"] == 79, result


def test_sigkill_of_the_real_entry_point_then_resume(tmp_path, english_corpus):
    """Two `python -m rnngen train` processes killed at random moments once they are training."""
    rng = random.Random(2)
    outs = [tmp_path / f"p{i}.safetensors" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "rnngen", "train", str(english_corpus), "--steps", "100000",
                               "--eval-every", "1", "--out", str(out), *FAST],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for out in outs]
    try:
        deadline = time.monotonic() + 90
        for proc, out in zip(procs, outs):
            while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    for proc, out in zip(procs, outs):
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        step = _assert_absent_or_complete(out, resumable=True)
        assert step is not None and step >= 1
        run_cli("train", english_corpus, "--resume", out, "--steps", step + 2, *FAST)
        assert load_checkpoint(out).train["step"] == step + 2
    assert _temps(tmp_path) == []


def test_stale_temp_file_is_harmless_and_removed_by_the_next_save(tmp_path, char_ckpt):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "m.safetensors"
    stale = tmp_path / f".m.safetensors.tmp-{dead.pid}"
    stale.write_bytes(char_ckpt.read_bytes()[:300])  # half a checkpoint, as SIGKILL leaves it
    alive = tmp_path / f".m.safetensors.tmp-{os.getppid()}"  # a writer that is still running
    alive.write_bytes(b"in progress")
    ckpt = load_checkpoint(char_ckpt)
    save_checkpoint(out, ckpt)
    assert not stale.exists()
    assert alive.exists()
    assert load_checkpoint(out).train["step"] == ckpt.train["step"]


# ---- 2. clean stops -------------------------------------------------------------------


def _start_and_wait_for_checkpoint(tmp_path, corpus, out):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnngen", "train", str(corpus), "--time", "5m", "--eval-every", "3",
         "--out", str(out), *FAST],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 90
    while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.exists(), proc.communicate()[1]
    return proc


def test_sigterm_saves_and_exits_cleanly(tmp_path, english_corpus):
    out = tmp_path / "term.safetensors"
    proc = _start_and_wait_for_checkpoint(tmp_path, english_corpus, out)
    step_before = load_checkpoint(out).train["step"]
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)  # no stuck thread: it exits
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert "stopping: saving a checkpoint" in stderr
    assert "stopped at step" in stdout and "--resume" in stdout
    stopped_at = int(re.search(r"stopped at step (\d+)", stdout).group(1))
    ckpt = load_checkpoint(out)
    assert ckpt.resumable and ckpt.train["step"] == stopped_at >= step_before
    assert _temps(tmp_path) == []


def _full_fifo(path: Path) -> tuple[int, int]:
    """A named pipe filled to the last byte by the test itself: (read end, write end).

    A process that writes to it blocks until the test reads, however fast it runs, which
    holds it at a known point without any sleep.
    """
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    for chunk in (4096, 1):
        try:
            while True:
                os.write(writer, b"x" * chunk)
        except BlockingIOError:
            pass
    return reader, writer


def _wait_for_text(path: Path, needle: str, pid: int, timeout: float = 60.0) -> str:
    """Poll a forked CLI's log until ``needle`` appears (fails at once if the child has exited)."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text:
            return text
        if time.monotonic() > deadline or os.waitpid(pid, os.WNOHANG)[0]:
            raise AssertionError(f"{needle!r} never appeared:\n{text}")
        time.sleep(0.01)


def test_second_ctrl_c_quits_at_once_and_the_checkpoint_is_still_whole(tmp_path, english_corpus):
    """The second Ctrl-C quits without waiting for the save the first one asked for.

    The run logs its steps into a pipe the test keeps full, so it is held at its first log
    write (right after printing its first evaluation, before saving): the first Ctrl-C asks
    for a save it cannot reach, and only the second one can end it, with exit 130 and the
    checkpoint untouched. Without the second-Ctrl-C handling it would wait there for ever.
    """
    out = tmp_path / "twice.safetensors"
    log = tmp_path / "twice.log"
    run_cli("train", english_corpus, "--steps", "2", "--out", out, *FAST)
    before = out.read_bytes()
    reader, writer = _full_fifo(tmp_path / "steps.jsonl")
    pid = fork_cli(["train", english_corpus, "--resume", out, "--steps", "1000000", "--eval-every", "1",
                    "--out", out, "--log-jsonl", tmp_path / "steps.jsonl", *FAST], log)
    code = sig = None
    try:
        _wait_for_text(log, "step      3  train", pid)  # step 3 evaluated; its log line cannot be written
        os.kill(pid, signal.SIGINT)
        _wait_for_text(log, "stopping: saving a checkpoint", pid)  # the first Ctrl-C was heard
        os.kill(pid, signal.SIGINT)
        code, sig = wait_exit(pid, timeout=60)
    finally:
        if code is None and sig is None:  # still held at the pipe: end it
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(writer)
        os.close(reader)
    text = log.read_text()
    assert sig is None and code == 130, text
    assert "Traceback" not in text
    assert "stopped at step" not in text  # it quit; it did not save and stop
    assert out.read_bytes() == before  # whole, and untouched since the last save
    assert _temps(tmp_path) == []


def test_ctrl_c_in_the_dashboard_saves_and_exits(tmp_path, english_corpus):
    if subprocess.run(["which", "tmux"], capture_output=True).returncode != 0:
        pytest.skip("tmux is needed to give the dashboard a terminal")
    out = tmp_path / "tui.safetensors"
    log = tmp_path / "tui.log"
    session = f"rnngen-rel-{os.getpid()}"
    tmux = ["tmux", "-L", f"{session}-server", "-f", "/dev/null"]  # a private server: no shared window size
    command = (f"{sys.executable} -m rnngen train {english_corpus} --time 5m --eval-every 3 --out {out} "
               f"{' '.join(FAST)} --tui 2>{log}; echo EXIT=$? >>{log}")
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command], check=True,
                   env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")})
    try:
        deadline = time.monotonic() + 90
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert out.exists(), log.read_text() if log.exists() else "no checkpoint"
        subprocess.run([*tmux, "send-keys", "-t", session, "C-c"], check=True)
        deadline = time.monotonic() + 60
        while "EXIT=" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
            time.sleep(0.1)
        text = log.read_text()
        assert "EXIT=" in text, "the dashboard did not exit after Ctrl-C (stuck thread?)"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert "Traceback" not in text, text
    assert re.search(r"EXIT=(0|130)\b", text), text
    ckpt = load_checkpoint(out)
    assert ckpt.resumable and ckpt.train["step"] >= 1
    assert _temps(tmp_path) == []


# ---- 3. faithful resume ---------------------------------------------------------------


def test_resume_with_a_changed_vocabulary_is_refused(tmp_path, english_corpus, char_ckpt):
    out = tmp_path / "v.safetensors"
    out.write_bytes(char_ckpt.read_bytes())
    other = tmp_path / "other.txt"
    other.write_text(english_corpus.read_text() + "Ωμέγα ζ\n")
    result = run_cli("train", other, "--resume", out, "--steps", "40", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "never seen" in result.stderr
    assert out.read_bytes() == char_ckpt.read_bytes()


@pytest.mark.parametrize("change", [["--level", "word"], ["--model", "gru"], ["--layers", "2"],
                                    ["--seq-len", "8"], ["--val-frac", "0.3"]])
def test_resume_with_a_changed_shape_or_layout_is_refused(tmp_path, english_corpus, char_ckpt, change):
    out = tmp_path / "s.safetensors"
    out.write_bytes(char_ckpt.read_bytes())
    result = run_cli("train", english_corpus, "--resume", out, "--steps", "40", *change, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "resume" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == char_ckpt.read_bytes()


def test_budget_learning_rate_and_eval_interval_may_change_on_resume(tmp_path, english_corpus, char_ckpt):
    out = tmp_path / "c.safetensors"
    out.write_bytes(char_ckpt.read_bytes())
    run_cli("train", english_corpus, "--resume", out, "--steps", "34", "--lr", "1e-3", "--eval-every", "2",
            "--clip", "0.5", *TINY)
    ckpt = load_checkpoint(out)
    config = ckpt.train["config"]
    assert ckpt.train["step"] == 34
    assert config["lr"] == 1e-3 and config["eval_every"] == 2 and config["clip"] == 0.5
    assert [row["step"] for row in ckpt.train["history"]][-2:] == [32, 34]
    run_cli("train", english_corpus, "--resume", out, "--time", "1s", *TINY)
    assert load_checkpoint(out).train["config"]["time_s"] == 1.0


def test_dropout_may_change_on_resume_and_the_shape_may_not(tmp_path, english_corpus, char_ckpt):
    out = tmp_path / "c.safetensors"
    out.write_bytes(char_ckpt.read_bytes())
    before = load_checkpoint(out)
    steps = before.train["step"] + 2
    run_cli("train", english_corpus, "--resume", out, "--steps", str(steps), "--dropout", "0.3", *TINY)
    after = load_checkpoint(out)
    assert after.train["step"] == steps
    assert after.model_config.dropout == 0.3
    assert replace(after.model_config, dropout=before.model_config.dropout) == before.model_config


def test_the_guarantees_document_lists_every_option_that_may_change_on_resume():
    import inspect

    doc = (REPO / "docs" / "guarantees.md").read_text()
    source = inspect.getsource(Trainer._merge_resume_config)
    changeable = re.search(r"changeable = \(([^)]*)\)", source).group(1)
    names = re.findall(r'"(\w+)"', changeable)
    flags = {"time_s": "--time", "warmup_steps": "--warmup"}
    for name in names:
        flag = flags.get(name, "--" + name.replace("_", "-"))
        assert f"`{flag}`" in doc or f"`{name}`" in doc, f"{flag} may change on resume but docs/guarantees.md does not say so"


# ---- 4. divergence --------------------------------------------------------------------


def test_inf_loss_stops_training_naming_the_step_and_keeps_the_last_good_weights(tmp_path, english_corpus):
    # An absurd learning rate without clipping blows the logits up to Inf within a few steps.
    common = ["--lr", "1e6", "--clip", "0", "--warmup", "0", "--schedule", "constant", *FAST]
    out = tmp_path / "boom.safetensors"
    result = run_cli("train", english_corpus, "--steps", "60", "--eval-every", "1", "--out", out, *common, ok=False)
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    alarm = re.search(r"step (\d+): the (loss|gradient of [\w.]+) is NaN or infinite; the update was not applied",
                      result.stderr)
    assert alarm, result.stderr
    bad_step = int(alarm.group(1))
    assert f"training diverged at step {bad_step}" in result.stderr
    saved = load_checkpoint(out)  # loadable: no NaN/Inf was written
    assert saved.train["step"] == bad_step - 1
    # The saved weights are exactly those of a run that stopped on the last good step.
    good = tmp_path / "good.safetensors"
    run_cli("train", english_corpus, "--steps", bad_step - 1, "--eval-every", "1", "--out", good, *common)
    a, b = saved.model_state(), load_checkpoint(good).model_state()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def _poison_gradient_at(trainer: Trainer, step: int, value: float):
    """From inside backward, turn one parameter's gradient into NaN/Inf on the given step."""
    param = trainer.model.rnn.weight_hh_l0 if hasattr(trainer.model, "rnn") else next(trainer.model.parameters())

    def hook(grad):
        return torch.full_like(grad, value) if trainer.step + 1 == step else grad

    param.register_hook(hook)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_gradient_is_caught_on_its_step_and_not_applied(tmp_path, english_corpus, value):
    config = TrainConfig(steps=12, hidden=16, embed=8, layers=1, seq_len=16, batch_size=4, seed=5, threads=1,
                         eval_every=2)
    events = []
    trainer = Trainer(config, load_corpus(english_corpus), out=tmp_path / "n.safetensors", callback=events.append)
    _poison_gradient_at(trainer, 6, value)
    before = {}

    def remember(t):
        before.clear()
        before.update({k: v.clone() for k, v in t.model.state_dict().items()})

    trainer.between_steps.append(remember)
    done = trainer.run()
    assert done.reason == "diverged" and done.step == 5
    alarms = [e for e in events if isinstance(e, AlarmEvent)]
    assert len(alarms) == 1 and alarms[0].step == 6
    assert "step 6" in alarms[0].message and "gradient of" in alarms[0].message
    assert not any(isinstance(e, StepEvent) and e.step >= 6 for e in events)
    saved = load_checkpoint(tmp_path / "n.safetensors")
    assert saved.train["step"] == 5
    for name, tensor in saved.model_state().items():
        assert torch.equal(tensor, before[name]), name  # the bad update was never applied


def test_on_nan_skip_drops_the_step_lowers_the_rate_and_goes_on(tmp_path, english_corpus):
    config = TrainConfig(steps=12, hidden=16, embed=8, layers=1, seq_len=16, batch_size=4, seed=5, threads=1,
                         eval_every=4, on_nan="skip")
    events = []
    trainer = Trainer(config, load_corpus(english_corpus), out=tmp_path / "s.safetensors", callback=events.append)
    _poison_gradient_at(trainer, 6, float("nan"))
    done = trainer.run()
    assert done.reason == "budget" and done.step == 12
    alarms = [e for e in events if isinstance(e, AlarmEvent)]
    assert [a.step for a in alarms] == [6]
    lrs = {e.step: e.lr for e in events if isinstance(e, StepEvent)}
    assert 6 not in lrs and lrs[7] < lrs[5]
    saved = load_checkpoint(tmp_path / "s.safetensors")
    assert saved.train["step"] == 12 and saved.train["lr_scale"] == 0.5
    assert all(torch.isfinite(t).all() for t in saved.model_state().values())


def test_on_nan_skip_from_the_command_line(tmp_path, english_corpus):
    out = tmp_path / "skip.safetensors"
    result = run_cli("train", english_corpus, "--steps", "30", "--lr", "1e6", "--clip", "0", "--warmup", "0",
                     "--schedule", "constant", "--on-nan", "skip", "--out", out, *FAST)
    assert "NaN or infinite" in result.stderr and "Traceback" not in result.output
    saved = load_checkpoint(out)
    assert saved.train["step"] == 30 and saved.train["lr_scale"] < 1.0


# ---- 5 (part). a full disk while saving ------------------------------------------------


class _DiskFullHandle:
    """A temporary file on a disk that fills up: 100 bytes land, then ENOSPC."""

    def __init__(self, handle):
        self.handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def write(self, data):
        self.handle.write(data[:100])
        self.handle.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _DiskFillsAfter:
    """``os`` as rnngen.atomic_files sees it: the first ``saves`` temporary files are written whole."""

    def __init__(self, saves: int):
        self.saves = saves

    def __getattr__(self, name):
        return getattr(os, name)

    def fdopen(self, fd, *args, **kwargs):
        handle = os.fdopen(fd, *args, **kwargs)
        self.saves -= 1
        return handle if self.saves >= 0 else _DiskFullHandle(handle)


def test_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path, english_corpus, monkeypatch):
    out = tmp_path / "full.safetensors"
    # The first evaluation writes the checkpoint and the best weights; then the disk is full.
    monkeypatch.setattr(atomic_files, "os", _DiskFillsAfter(saves=2))
    result = run_cli("train", english_corpus, "--steps", "10", "--eval-every", "3", "--out", out, *FAST, ok=False)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: could not write checkpoint {out}: No space left on device"], result.stderr
    assert "Traceback" not in result.output
    assert load_checkpoint(out).train["step"] == 3  # the previous checkpoint survived, whole
    assert _temps(tmp_path) == []


def test_full_disk_during_rename_keeps_the_previous_checkpoint(tmp_path, char_ckpt, monkeypatch):
    out = tmp_path / "r.safetensors"
    out.write_bytes(char_ckpt.read_bytes())
    ckpt = load_checkpoint(out)
    ckpt.train["step"] = 999

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module.os, "replace", no_space)
    with pytest.raises(RnngenError, match="No space left on device"):
        save_checkpoint(out, ckpt)
    assert out.read_bytes() == char_ckpt.read_bytes()
    assert _temps(tmp_path) == []


# ---- 6. safe loading: no pickle anywhere ----------------------------------------------

_UNSAFE = re.compile(
    r"^\s*(import|from)\s+(c?pickle|_pickle|dill|cloudpickle|joblib|shelve|marshal)\b"
    r"|\bpickle\.(loads?|dumps?|Unpickler)\b|torch\.load\s*\(|allow_pickle\s*=\s*True|weights_only\s*=\s*False"
    r"|\btorch\.jit\.load\b|\bnp\.load\s*\((?![^)]*allow_pickle\s*=\s*False)",
    re.M,
)


def test_no_pickle_anywhere_in_the_code_base():
    this = Path(__file__).resolve()
    offenders = []
    for folder in ("rnngen", "benchmarks", "tests"):
        for path in (REPO / folder).rglob("*.py"):
            if path.resolve() == this:
                continue
            for match in _UNSAFE.finditer(path.read_text(encoding="utf-8", errors="replace")):
                offenders.append(f"{path.relative_to(REPO)}: {match.group(0).strip()}")
    assert offenders == []


def test_checkpoint_is_read_without_pickle(char_ckpt, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used to load a checkpoint")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_checkpoint(char_ckpt).build_model()


# ---- 7. long runs (short version; benchmarks/soak.py runs the long, timed one) ----------


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_short_soak_memory_stays_flat(tmp_path):
    """500 steps with an evaluation and two checkpoint writes every 25: after a warm-up of 100
    steps the resident set may wobble (allocator, checkpoint buffers) but not climb. Counted in
    steps, not seconds, so every machine does the same work."""
    rss: dict[int, float] = {}

    def sample(event) -> None:
        if isinstance(event, StepEvent) and event.step % 25 == 0:
            rss[event.step] = _rss_mb()

    config = TrainConfig(cell="lstm", layers=1, hidden=64, embed=16, seq_len=32, batch_size=8, lr=2e-3, steps=500,
                         eval_every=25, threads=1, precision="fp32", seed=1)
    trainer = Trainer(config, Corpus(ENGLISH * 60, "soak", ()), out=tmp_path / "soak.safetensors", callback=sample)
    assert trainer.run().step == 500
    warm = [rss[step] for step in sorted(rss) if step >= 100]
    assert len(warm) == 17
    assert max(warm) - warm[0] < 25, rss
