"""The conventions of a well-behaved command-line tool (issue 14, part 4), checked on the real
CLI in subprocesses: downloads and caches go to the user's cache folder (``RNNGEN_HOME``
overrides), never the current directory; pipes, ``NO_COLOR`` and ``TERM=dumb`` get plain text
(training progress: one line per evaluation) while a terminal gets colour; ``train -q`` and
``-v``; ``--device mps`` refused in one line where there is no Apple GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import ENGLISH
from helpers.terminal import run_on_terminal


def rnngen(*args, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``rnngen ARGS`` in a subprocess with stdout and stderr piped (bytes); exit code not checked."""
    return subprocess.run(
        [sys.executable, "-m", "rnngen", *map(str, args)],
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )


def env_without_rnngen_dirs(**extra: str) -> dict[str, str]:
    """This environment without RNNGEN_HOME / RNNGEN_CORPORA, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("RNNGEN_HOME", "RNNGEN_CORPORA")}
    return env | extra


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# --- where downloads and caches go ----------------------------------------------------------


def expected_user_cache(home: Path, xdg: Path) -> Path:
    """platformdirs' user cache folder for rnngen under this HOME / XDG_CACHE_HOME."""
    if sys.platform.startswith("linux"):
        return xdg / "rnngen"  # what platformdirs documents for Linux: $XDG_CACHE_HOME/rnngen
    probe = "from platformdirs import user_cache_dir; print(user_cache_dir('rnngen', appauthor=False))"
    env = env_without_rnngen_dirs(HOME=str(home), XDG_CACHE_HOME=str(xdg))
    return Path(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).stdout.strip())


def test_corpora_and_caches_default_to_the_user_cache_folder(tmp_path):
    home, xdg, work = tmp_path / "home", tmp_path / "xdg-cache", tmp_path / "work"
    for folder in (home, xdg, work):
        folder.mkdir()
    env = env_without_rnngen_dirs(HOME=str(home), XDG_CACHE_HOME=str(xdg))
    corpora = expected_user_cache(home, xdg) / "corpora"

    got = rnngen("corpus", "get", "python", env=env, cwd=work)
    assert got.returncode == 0, got.stderr
    assert Path(got.stdout.decode().strip()) == corpora / "python.txt"
    assert (corpora / "python.txt").stat().st_size > 1_000_000

    # The copy check's cached index follows the corpora folder.
    (work / "corpus.txt").write_text(ENGLISH * 12, encoding="utf-8")
    (work / "samples.txt").write_text("Speak, speak. You are all resolved\n", encoding="utf-8")
    checked = rnngen("novelty", "samples.txt", "corpus.txt", env=env, cwd=work)
    assert checked.returncode == 0, checked.stderr
    assert [p.name for p in (corpora / "cache").glob("novelty-*.npy")], files_under(corpora)

    assert files_under(work) == ["corpus.txt", "samples.txt"], "nothing may land in the current directory"

    listed = rnngen("corpus", "list", env=env, cwd=work)
    assert listed.returncode == 0, listed.stderr
    assert f"stored in {corpora}" in listed.stdout.decode()
    assert "python" in listed.stdout.decode()


def test_rnngen_home_moves_corpora_and_caches(tmp_path):
    home, work = tmp_path / "my rnngen home", tmp_path / "work"
    work.mkdir()
    env = env_without_rnngen_dirs(RNNGEN_HOME=str(home), XDG_CACHE_HOME=str(tmp_path / "xdg-unused"))

    got = rnngen("corpus", "get", "python", env=env, cwd=work)
    assert got.returncode == 0, got.stderr
    assert Path(got.stdout.decode().strip()) == home / "corpora" / "python.txt"
    (work / "corpus.txt").write_text(ENGLISH * 12, encoding="utf-8")
    (work / "samples.txt").write_text("Speak, speak.\n", encoding="utf-8")
    assert rnngen("novelty", "samples.txt", "corpus.txt", env=env, cwd=work).returncode == 0
    assert list((home / "corpora" / "cache").glob("novelty-*.npy"))
    assert not (tmp_path / "xdg-unused").exists()
    assert files_under(work) == ["corpus.txt", "samples.txt"]

    listed = rnngen("corpus", "list", env=env, cwd=work).stdout.decode()
    assert f"stored in {home / 'corpora'}" in listed

    # The older, narrower RNNGEN_CORPORA still wins where it is set.
    narrow = tmp_path / "just corpora"
    listed = rnngen("corpus", "list", env=env | {"RNNGEN_CORPORA": str(narrow)}, cwd=work).stdout.decode()
    assert f"stored in {narrow}" in listed


# --- plain text when piped or NO_COLOR ----------------------------------------------------

TINY_RUN = ["--hidden", "16", "--embed", "8", "--layers", "1", "--seq-len", "16", "--batch-size", "4",
            "--threads", "1", "--seed", "3", "--steps", "30", "--eval-every", "10"]  # fmt: skip


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "english.txt"
    path.write_text(ENGLISH * 12, encoding="utf-8")
    return path


def every_command(corpus: Path, ckpt: Path) -> list[list]:
    """train, sample (with --color, a colour feature), info and eval, in that order."""
    return [
        ["train", corpus, "--out", ckpt, *TINY_RUN],
        ["sample", ckpt, "--length", "80", "--seed", "1", "--color"],
        ["info", ckpt],
        ["eval", ckpt, corpus],
    ]


@pytest.mark.parametrize("no_color", [None, "1"])
def test_piped_output_is_plain_text(tmp_path, corpus, no_color):
    env = env_without_rnngen_dirs(RNNGEN_HOME=str(tmp_path / "home"), TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    if no_color:
        env["NO_COLOR"] = no_color
    for args in every_command(corpus, tmp_path / "m.safetensors"):
        done = rnngen(*args, env=env)
        assert done.returncode == 0, done.stderr
        for name, output in (("stdout", done.stdout), ("stderr", done.stderr)):
            assert b"\x1b" not in output, f"rnngen {args[0]}: ESC in piped {name}: {output[:300]!r}"
            assert b"\r" not in output, f"rnngen {args[0]}: a carriage return (a redrawn bar) in {name}"
            assert "━".encode() not in output, f"rnngen {args[0]}: a progress bar in piped {name}"


def test_piped_training_progress_is_one_line_per_evaluation(tmp_path, corpus):
    done = rnngen("train", corpus, "--out", tmp_path / "m.safetensors", *TINY_RUN)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.decode().splitlines()
    evaluations = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in evaluations] == ["10", "20", "30"], lines
    for line in evaluations:
        assert " val " in line and "% done" in line, line  # the bar's progress, now in the line
    assert not any("━" in line for line in lines), "no progress bar in a pipe"
    # Nothing wrapped at 80 columns: the run's first line is one line.
    (first,) = [line for line in lines if "parameters" in line]
    assert "tokens; batch" in first and "steps" in first, lines


@pytest.mark.parametrize("setting", [{}, {"NO_COLOR": "1"}, {"TERM": "dumb"}], ids=["colour", "NO_COLOR", "dumb"])
def test_a_terminal_gets_colour_unless_no_color(tmp_path, corpus, monkeypatch, setting):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    outputs = {}
    for args in every_command(corpus, tmp_path / "m.safetensors"):
        code, shown = run_on_terminal(*args)
        assert code == 0, shown
        outputs[args[0]] = shown
    if not setting:  # colour is a feature of these two on a terminal: the test can tell
        assert b"\x1b[" in outputs["train"], outputs["train"][:300]
        assert b"\x1b[38;5;" in outputs["sample"], outputs["sample"][:300]
        return
    for command, shown in outputs.items():
        assert b"\x1b" not in shown, f"rnngen {command} with {setting}: {shown[:300]!r}"
    evaluations = [line for line in outputs["train"].decode().splitlines() if line.startswith("step ")]
    assert len(evaluations) == 3, outputs["train"]


# --- train --quiet / --verbose ------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-q", "--quiet"])
def test_quiet_train_prints_only_the_result(tmp_path, corpus, flag):
    out = tmp_path / "m.safetensors"
    done = rnngen("train", corpus, "--out", out, *TINY_RUN, flag)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    best = tmp_path / "m.best.safetensors"
    assert done.stdout.decode() == f"checkpoint: {out}\nbest:       {best}\n"


def test_quiet_train_still_reports_errors(tmp_path, corpus):
    done = rnngen("train", corpus, "--out", tmp_path / "m.safetensors", *TINY_RUN, "-q", "--lr", "-1")
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr.decode().startswith("error: --lr must be"), done.stderr


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_train_adds_detail_per_evaluation(tmp_path, corpus, flag):
    done = rnngen("train", corpus, "--out", tmp_path / "m.safetensors", *TINY_RUN, flag)
    normal = rnngen("train", corpus, "--out", tmp_path / "n.safetensors", *TINY_RUN)
    assert done.returncode == 0 and normal.returncode == 0, done.stderr + normal.stderr
    lines, plain = done.stderr.decode().splitlines(), normal.stderr.decode().splitlines()
    evaluations = [line for line in lines if line.startswith("step ")]
    assert len(evaluations) == 3, lines
    for line in evaluations:
        assert "|g| mean" in line and "max" in line and "tok/s" in line and "lr " in line, line
    assert not any("|g| mean" in line for line in plain), "the detail is --verbose's"
    # The planner's choices in full (TINY_RUN leaves it the learning rate, dropout and warm-up).
    (chose,) = [line for line in lines if line.startswith("plan: chose ")]
    assert "lr 0.008" in chose and "warmup_steps 50" in chose, chose
    assert any(line.startswith("settings: ") and "seed 3" in line for line in lines), lines
    assert done.stdout == normal.stdout.replace(b"n.safetensors", b"m.safetensors").replace(b"n.best", b"m.best")
    for line in plain:
        assert not line.startswith(("plan: chose ", "settings: ")), line


def test_verbose_timed_train_shows_the_speeds_the_planner_measured(tmp_path, corpus):
    timed = [arg for arg in TINY_RUN if arg not in ("--steps", "30")] + ["--time", "2s"]
    done = rnngen("train", corpus, "--out", tmp_path / "m.safetensors", *timed, "-v")
    assert done.returncode == 0, done.stderr
    (measured,) = [line for line in done.stderr.decode().splitlines() if line.startswith("plan: measured ")]
    assert "1x16 b4" in measured and "tok/s" in measured, measured


def test_quiet_and_verbose_together_are_refused(tmp_path, corpus):
    done = rnngen("train", corpus, "--out", tmp_path / "m.safetensors", *TINY_RUN, "-q", "-v")
    assert done.returncode == 2
    assert b"--quiet or --verbose, not both" in done.stderr


# --- --device mps -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "compare"])
def test_device_mps_is_refused_in_one_line_without_an_apple_gpu(tmp_path, corpus, command):
    import torch

    extra = ["--out", tmp_path / "m.safetensors"] if command == "train" else ["--out-dir", tmp_path / "cmp"]
    args = [command, corpus, "--device", "mps", "--steps", "5", "--hidden", "8", "--threads", "1", *extra]
    done = rnngen(*args)
    if torch.backends.mps.is_available():  # an Apple GPU here: the option trains on it
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 1, done.stderr
    assert done.stderr.decode() == "error: --device mps: this machine has no Apple GPU (MPS)\n"
    assert done.stdout == b""
