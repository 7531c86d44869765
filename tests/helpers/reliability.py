"""Helpers for the reliability tests: run the real CLI in a forked child (no new Python
start-up, so dozens of SIGKILL trials fit in seconds), optionally as an unprivileged user."""

from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path

# The first optimizer built in a process imports torch._dynamo (~2 s): pay that once, here.
import torch

# Import everything the CLI imports lazily *before* forking, so that a child (possibly
# running as "nobody") starts training at once and reads no more source files.
import rnngen.api  # noqa: F401
import rnngen.checkpoint  # noqa: F401
import rnngen.corpus  # noqa: F401
import rnngen.progress  # noqa: F401
import rnngen.sampling  # noqa: F401
import rnngen.training  # noqa: F401
from rnngen.cli import cli

torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])

NOBODY = 65534


def fork_cli(args, log: Path, *, unprivileged: bool = False) -> int:
    """Start ``rnngen ARGS`` in a forked child whose stdout and stderr go to ``log``; return its pid.

    The child runs the real entry point (its signal handlers, its error handling) and exits
    with the CLI's exit code.
    """
    args = [str(a) for a in args]
    pid = os.fork()
    if pid:
        return pid
    code = 99
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        if unprivileged and os.geteuid() == 0:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        import sys

        sys.stdout = sys.stderr = os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="replace")
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        cli.main(args, prog_name="rnngen")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - report anything unexpected as a traceback in the log
        import traceback

        traceback.print_exc()
        code = 98
    finally:
        try:
            import sys

            sys.stdout.flush()
        except Exception:  # noqa: BLE001
            pass
        os._exit(code)


def wait_exit(pid: int, timeout: float = 60.0) -> tuple[int | None, int | None]:
    """(exit code, killing signal) of a forked child; kills it after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"child {pid} did not exit within {timeout}s (stuck?)")
        time.sleep(0.01)
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return os.WEXITSTATUS(status), None


def run_cli_unprivileged(args, folder: Path) -> tuple[int, str]:
    """Run the CLI as an unprivileged user (when we are root), so permission checks are real."""
    log = folder / f"cli-{os.getpid()}-{len(os.listdir(folder))}.log"
    pid = fork_cli(args, log, unprivileged=True)
    code, sig = wait_exit(pid)
    text = log.read_text(encoding="utf-8", errors="replace")
    log.unlink()
    assert sig is None, f"killed by signal {sig}: {text}"
    return code, text


def public_tmpdir() -> Path:
    """A temporary folder that the unprivileged user can enter (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="rnngen-rel-"))
    path.chmod(0o755)
    return path


def clean_failure(code: int, text: str, match: str) -> None:
    assert code not in (0, None), text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("error: "), text
    assert match.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in text


def as_json(obj) -> str:
    return json.dumps(obj, sort_keys=True)
