"""Issue 16, item 4: no file rnngen writes next to a checkpoint has a guessable name.

Someone who can write to the checkpoint folder (a shared folder) plants symlinks at the
names older versions used: the write probe ``.rnngen-write-test-<pid>`` and the
checkpoint's temporary file ``.<name>.tmp-<pid>``. A training run must not write
through them: the files they point at stay as they were.
"""

from __future__ import annotations

import os
import subprocess
import sys

import rnngen
from rnngen.atomic_files import temp_owner_pid
from rnngen.checkpoint import load_checkpoint, save_checkpoint

VICTIM = b"precious data that nobody may overwrite\n"
TINY = dict(steps=3, hidden=8, embed=4, layers=1, seq_len=8, batch_size=2, threads=1, seed=3)


def test_planted_symlinks_at_the_old_temp_names_are_never_written_through(tmp_path, english_corpus):
    folder = tmp_path / "shared"
    folder.mkdir()
    out = folder / "m.safetensors"
    victims = {name: tmp_path / f"victim-{name}" for name in ("probe", "temp", "best")}
    for victim in victims.values():
        victim.write_bytes(VICTIM)
    pid = os.getpid()  # the run below trains in this process
    (folder / f".rnngen-write-test-{pid}").symlink_to(victims["probe"])
    (folder / f".m.safetensors.tmp-{pid}").symlink_to(victims["temp"])
    (folder / f".m.best.safetensors.tmp-{pid}").symlink_to(victims["best"])
    model = rnngen.train(english_corpus, out=out, **TINY)
    for victim in victims.values():
        assert victim.read_bytes() == VICTIM, victim
    assert not out.is_symlink() and load_checkpoint(out).train["step"] == 3
    assert model.result.out == out


def test_save_leaves_no_temp_and_removes_those_of_dead_writers(tmp_path, char_ckpt):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "c.safetensors"
    stale_new = tmp_path / f".c.safetensors.tmp-{dead.pid}-0123456789abcdef"  # today's names
    stale_old = tmp_path / f".c.safetensors.tmp-{dead.pid}"  # older versions' names
    alive = tmp_path / f".c.safetensors.tmp-{os.getppid()}-0123456789abcdef"  # a writer still running
    for path in (stale_new, stale_old, alive):
        path.write_bytes(b"half a checkpoint")
    save_checkpoint(out, load_checkpoint(char_ckpt))
    assert not stale_new.exists() and not stale_old.exists()
    assert alive.exists()
    left = [p.name for p in tmp_path.iterdir() if temp_owner_pid(p.name) == os.getpid()]
    assert left == []
    assert load_checkpoint(out).train == load_checkpoint(char_ckpt).train
