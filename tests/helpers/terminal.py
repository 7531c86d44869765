"""The real CLI on a real terminal: a pseudo-terminal (``pty.openpty``) as its stdout and stderr."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time


def run_on_terminal(*args: str, timeout: float = 120.0) -> tuple[int, bytes]:
    """Run ``rnngen ARGS`` with a terminal as stdout and stderr; return (exit code, the bytes it wrote).

    Output post-processing is off (no "\\n" -> "\\r\\n"), so the bytes are exactly what rnngen wrote.
    """
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnngen", *map(str, args)], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                proc.kill()
                raise AssertionError(f"rnngen {' '.join(map(str, args))} wrote nothing more for {timeout}s (stuck?)")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, b"".join(chunks)


class TerminalSession:
    """``rnngen ARGS`` running on a pseudo-terminal of a fixed size, for full-screen programs:
    read its output until something appears, type keys, and collect every byte it wrote."""

    def __init__(self, *args: str, columns: int = 100, rows: int = 30, cwd: str | None = None) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        # COLUMNS/LINES (set by some runners) would override the terminal's size.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rnngen", *map(str, args)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""
        self.closed = False

    def _read(self, wait: float) -> bool:
        """Read what is there (waiting up to ``wait`` s); False once the program closed the terminal."""
        if self.closed:
            return False
        ready, _, _ = select.select([self.master], [], [], wait)
        if ready:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the program closed the terminal
                data = b""
            if not data:
                self.closed = True
                return False
            self.output += data
        return True

    def wait_for(self, *needles: bytes, timeout: float = 60.0) -> bytes:
        """Read until every needle has appeared in the output."""
        deadline = time.monotonic() + timeout
        while not all(n in self.output for n in needles):
            if time.monotonic() > deadline or not self._read(min(0.5, max(0.0, deadline - time.monotonic()))):
                raise AssertionError(f"{needles} not written after {timeout}s; the last bytes: {self.output[-600:]!r}")
        return self.output

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self, timeout: float = 60.0) -> int:
        """Read until the program exits; its exit code."""
        deadline = time.monotonic() + timeout
        while self._read(min(0.5, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout}s; the last bytes: {self.output[-600:]!r}")
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
