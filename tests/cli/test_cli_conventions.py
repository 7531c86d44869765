"""The conventions of a well-behaved command-line tool (issue 14, part 4), checked on the real
CLI in subprocesses: downloads and caches go to the user's cache folder (``RNNGEN_HOME``
overrides), never the current directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers.cli import ENGLISH


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
