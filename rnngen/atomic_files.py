"""Temporary files that cannot be hijacked, and atomic replacement through them.

Every temporary file rnngen writes next to a target is created here: with a random name
and ``O_EXCL``, so a planted file or symlink at a guessable name is never opened, let
alone truncated or written through. The name keeps the writer's pid, so files left by a
killed writer can be recognised and removed.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_TEMP_NAME = re.compile(r"\.tmp-(\d+)-[0-9a-f]{16}$")


def temp_prefix(target: Path) -> str:
    """The start of every temporary name made for ``target`` (hidden, in its folder)."""
    return f".{target.name}.tmp-"


def create_exclusive(target: Path, mode: int = 0o666) -> tuple[Path, int]:
    """A new, empty file next to ``target``, opened for writing; returns (path, fd).

    The name is unpredictable and the file is created with ``O_EXCL``, so nothing that
    already exists (a file, a symlink) is ever reused. ``mode`` is filtered by the umask,
    as for any new file, so checkpoints keep the user's usual permissions.
    """
    target = Path(target)
    while True:
        tmp = target.with_name(f"{temp_prefix(target)}{os.getpid()}-{secrets.token_hex(8)}")
        try:
            return tmp, os.open(tmp, _FLAGS, mode)
        except FileExistsError:  # astronomically unlikely; just draw another name
            continue


def temp_owner_pid(name: str) -> int | None:
    """The pid inside a name made by :func:`create_exclusive`, or None for other names."""
    match = _TEMP_NAME.search(name)
    return int(match.group(1)) if match else None


def write_atomically(target: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``target`` with ``data``: readers see the old file or the new one, never half.

    Raises OSError; the temporary file is removed on any failure.
    """
    tmp, fd = create_exclusive(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
