"""One writer per checkpoint: an OS lock that a training run holds for its whole life.

The lock is ``fcntl.flock`` on a hidden sidecar file, ``.<name>.lock`` next to the
checkpoint (never on the checkpoint itself: that file is replaced by ``os.replace`` on
every save). The kernel drops the lock when its holder exits, however it exits, so a
SIGKILLed run leaves at most a harmless file behind, which the next run simply locks.
The holder's pid is written into the file so that a refused run can say who is writing.

Readers (sampling, evaluation, ``info``, the TUI) never take the lock: checkpoints are
replaced atomically, so they always see a whole file.

Under ``--nproc`` the launcher (the process the user started) takes the lock before it
starts any rank and names itself in ``OWNER_ENV``; rank 0 then finds the lock held by
that pid and borrows it instead of refusing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from rnngen.errors import RnngenError

OWNER_ENV = "RNNGEN_CHECKPOINT_LOCK_OWNER"  # pid of a launcher that holds the lock for its ranks
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_PID_WAIT_S = 2.0  # a holder writes its pid right after locking; wait this long at most to read it


def lock_file(checkpoint: Path) -> Path:
    """The sidecar file whose lock guards ``checkpoint`` (hidden; not a ``.safetensors`` name)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f".{checkpoint.name}.lock")


class CheckpointLock:
    """The right to write one checkpoint path; :meth:`release` (or ``with``) gives it up."""

    def __init__(self, checkpoint: Path, fd: int | None):
        self.checkpoint = Path(checkpoint)
        self._fd = fd  # None: borrowed from the launcher, which releases it

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the lock file and unlock. Safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # Unlink while still holding the lock: a process that opened the old file and locks
        # it after us sees that the name no longer leads to it and tries again.
        path = lock_file(self.checkpoint)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False)):
                path.unlink()
        except OSError:
            pass
        os.close(fd)

    def __enter__(self) -> CheckpointLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)  # a dropped lock must not outlive its owner object


def try_lock(checkpoint: Path) -> CheckpointLock | None:
    """Lock ``checkpoint`` for this process, or None if another process holds it.

    Creates the checkpoint's folder if needed. Raises RnngenError if the folder cannot
    hold the lock file (permissions, a symlink planted at its name).
    """
    checkpoint = Path(checkpoint)
    path = lock_file(checkpoint)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnngenError(f"cannot create folder {folder}: {exc.strerror or exc}") from None
    while True:
        try:
            fd = os.open(path, _OPEN_FLAGS, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RnngenError(f"{path} is a symbolic link; remove it (rnngen keeps its lock there)") from None
            raise RnngenError(f"cannot write checkpoints to {folder}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            current = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is None or not os.path.samestat(mine, current):
            os.close(fd)  # the holder we waited on removed this file on release: lock the new one
            continue
        if not stat.S_ISREG(mine.st_mode) or mine.st_nlink != 1:
            os.close(fd)  # never write our pid into something that is also another file
            raise RnngenError(f"{path} is not rnngen's lock file; remove it")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return CheckpointLock(checkpoint, fd)


def holder_pid(checkpoint: Path) -> int | None:
    """The pid written in ``checkpoint``'s lock file, if any (the holder's, while it is held)."""
    try:
        fd = os.open(lock_file(checkpoint), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else None


def lock_checkpoint(checkpoint: Path) -> CheckpointLock:
    """Lock ``checkpoint`` for this run, or refuse in one line naming the process that writes it."""
    checkpoint = Path(checkpoint)
    deadline = time.monotonic() + _PID_WAIT_S
    while True:
        lock = try_lock(checkpoint)
        if lock is not None:
            return lock
        pid = holder_pid(checkpoint)
        if pid is not None and pid == _launcher_pid() and pid != os.getpid():
            return CheckpointLock(checkpoint, None)  # our own launcher holds it for this job
        if pid is not None or time.monotonic() > deadline:
            who = f" (pid {pid})" if pid is not None else ""
            raise RnngenError(f"{checkpoint} is being written by another rnngen run{who}")
        time.sleep(0.01)  # the holder has locked but not yet written its pid


def claim_new_path(candidates: Iterable[Path]) -> tuple[Path, CheckpointLock]:
    """The first candidate that does not exist and that no other run is claiming, locked.

    Two runs choosing a default name at the same moment get two different paths.
    """
    for candidate in candidates:
        if candidate.exists():
            continue
        lock = try_lock(candidate)
        if lock is None:
            continue  # another run claimed this name a moment ago
        if candidate.exists():  # written and released between our check and our lock
            lock.release()
            continue
        return candidate, lock
    raise RnngenError("no free checkpoint name")  # only for a finite list of candidates


@contextlib.contextmanager
def held_for_children(checkpoint: Path | None) -> Iterator[None]:
    """Hold ``checkpoint``'s lock while child processes (``--nproc``'s ranks) write it.

    The children find ``OWNER_ENV`` naming this process and borrow the lock. With no
    path (a default name, chosen by rank 0 itself), nothing is held here.
    """
    if checkpoint is None:
        yield
        return
    with lock_checkpoint(checkpoint):
        previous = os.environ.get(OWNER_ENV)
        os.environ[OWNER_ENV] = str(os.getpid())
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(OWNER_ENV, None)
            else:
                os.environ[OWNER_ENV] = previous


def _launcher_pid() -> int | None:
    value = os.environ.get(OWNER_ENV, "")
    return int(value) if value.isdigit() else None
