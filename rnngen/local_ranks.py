"""``train --nproc N`` on one machine: start the N rank processes, watch them, stop them together.

The ranks are started here rather than by torchrun, whose agent listens on every network
interface (an unauthenticated TCPStore; its rendezvous reads pickled state from it), prints
its own warnings and a ``SignalException`` traceback on Ctrl-C, and reports a dead rank in
a wall of text. Here:

- The ranks meet through a FileStore in a private (0700) temporary folder, and gloo (or
  NCCL's bootstrap) binds to the loopback interface: nothing listens beyond this machine.
- Ctrl-C, SIGTERM or SIGHUP reach the launcher; each rank gets SIGTERM, the ranks agree
  to stop on the same step, rank 0 saves, and the job exits 0. A second Ctrl-C kills
  them at once (checkpoints are written atomically, so the last one stays whole).
- A rank that dies or fails stops the job: the others leave on their own when they lose
  contact (exit code LOST_CONTACT, silently) or are killed after a short grace, and one
  line names the rank that went first.
- Rank 0 writes to the terminal; the other ranks' output goes to a file in the private
  folder and is shown only when one of them is the one that failed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rnngen.errors import RnngenError, setting

INIT_METHOD_ENV = "RNNGEN_INIT_METHOD"  # where the ranks meet: file://<private folder>/store
LAUNCHER_ENV = "RNNGEN_LAUNCHER_PID"  # set for ranks started here
LOST_CONTACT = 75  # a rank's exit code when another rank went away first
INTERRUPTED = 130
GRACE_S = 5.0  # after a rank fails, how long the others get to leave by themselves
POLL_S = 0.05
RANKS_FOLDER_PREFIX = "rnngen-ranks-"  # the private folder (removed by rank 0 if the launcher is killed)


@dataclass
class RankProcess:
    rank: int
    proc: subprocess.Popen
    log: Path | None  # ranks > 0: their output, shown if they are the one that failed
    sent: int | None = None  # the last signal the launcher sent it
    order: int | None = None  # when it ended, among the ranks (0 = first)


def rank_command(args: list[str]) -> list[str]:
    """How each rank runs: the same ``rnngen`` command line, in this Python."""
    return [sys.executable, "-m", "rnngen", *args]


def loopback_interface() -> str | None:
    names = {name for _, name in socket.if_nameindex()}
    return next((name for name in ("lo", "lo0") if name in names), None)


def rank_environment(base: dict[str, str], rank: int, world: int, store: Path, threads: int) -> dict[str, str]:
    env = dict(base)
    env.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        **{INIT_METHOD_ENV: f"file://{store}", LAUNCHER_ENV: str(os.getpid())},
    )
    env.setdefault("OMP_NUM_THREADS", str(threads))
    lo = loopback_interface()
    if lo:  # gloo's pairs and NCCL's bootstrap listen on loopback only
        env.setdefault("GLOO_SOCKET_IFNAME", lo)
        env.setdefault("NCCL_SOCKET_IFNAME", lo)
    return env


def launch(nproc: int, args: list[str], *, threads: int | None = None) -> int:
    """Run ``rnngen ARGS`` as ``nproc`` rank processes on this machine; the job's exit code.

    Returns rank 0's exit code when the ranks end by themselves (0, or 3 when training
    diverged; rank 0 has said why), 130 when interrupted twice, and raises RnngenError
    naming the rank when one died or failed.
    """
    if nproc < 1:
        raise RnngenError(f"{setting('nproc')} must be at least 1")
    per_rank = threads or max(1, (os.cpu_count() or 1) // nproc)
    folder = Path(tempfile.mkdtemp(prefix=RANKS_FOLDER_PREFIX))  # 0700: only this user can meet there
    ranks: list[RankProcess] = []
    watcher = _Watcher(ranks)
    try:
        with watcher.forwarding_signals():
            for r in range(nproc):
                ranks.append(_start(r, nproc, args, folder, per_rank))
            watcher.wait()
        return _outcome(ranks, watcher)
    finally:
        for rp in ranks:
            if rp.proc.poll() is None:
                _send(rp, signal.SIGKILL)
                rp.proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _start(rank: int, world: int, args: list[str], folder: Path, threads: int) -> RankProcess:
    env = rank_environment(dict(os.environ), rank, world, folder / "store", threads)
    if rank == 0:  # rank 0 speaks to the user: the launcher's own stdout and stderr
        return RankProcess(rank, _popen(args, env, None), None)
    log = folder / f"rank-{rank}.log"
    with open(log, "wb") as out:
        return RankProcess(rank, _popen(args, env, out), log)


def _popen(args: list[str], env: dict[str, str], out: IO[bytes] | None) -> subprocess.Popen:
    return subprocess.Popen(
        rank_command(args),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=out,
        start_new_session=True,  # the terminal's Ctrl-C reaches the launcher alone, which passes it on
    )


def _send(rp: RankProcess, sig: int) -> None:
    rp.sent = sig
    try:
        rp.proc.send_signal(sig)
    except ProcessLookupError:
        pass


class _Watcher:
    """Waits for the ranks; passes on the user's signals; stops everyone when one fails."""

    def __init__(self, ranks: list[RankProcess]):
        self.ranks = ranks
        self.signals = 0  # how many stop signals the user sent
        self.failed_at: float | None = None
        self.ended = 0

    def _on_signal(self, signum, frame) -> None:
        self.signals += 1
        for rp in self.ranks:
            if rp.proc.poll() is None:
                _send(rp, signal.SIGTERM if self.signals == 1 else signal.SIGKILL)

    @contextlib.contextmanager
    def forwarding_signals(self) -> Iterator[None]:
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def wait(self) -> None:
        while True:
            running = 0
            for rp in self.ranks:
                if rp.order is not None:
                    continue
                code = rp.proc.poll()
                if code is None:
                    running += 1
                    continue
                rp.order, self.ended = self.ended, self.ended + 1
                if code != 0 and self.failed_at is None:
                    self.failed_at = time.monotonic()
            if not running:
                return
            if self.failed_at is not None and time.monotonic() - self.failed_at > GRACE_S:
                for rp in self.ranks:  # stuck, e.g. in a collective that will never complete
                    if rp.proc.poll() is None:
                        _send(rp, signal.SIGKILL)
            time.sleep(POLL_S)


def _outcome(ranks: list[RankProcess], watcher: _Watcher) -> int:
    if watcher.signals >= 2:
        return INTERRUPTED
    first = ranks[0].proc.returncode
    if all(rp.proc.returncode == 0 for rp in ranks):
        return 0
    if first > 0 and first != LOST_CONTACT:
        return first  # rank 0 failed or diverged by itself, and said so

    def culprit(rp: RankProcess) -> bool:
        code = rp.proc.returncode
        return (code < 0 and -code != rp.sent) or (code > 0 and code != LOST_CONTACT)

    failed = sorted((rp for rp in ranks if culprit(rp)), key=lambda rp: rp.order or 0)
    if not failed:
        if watcher.signals:
            return INTERRUPTED  # stopped before the ranks could save (still starting up)
        raise RnngenError("the training processes lost contact with each other; the job was stopped")
    rp = failed[0]
    code, who = rp.proc.returncode, f"rank {rp.rank} (pid {rp.proc.pid})"
    if code < 0:
        how = f"was killed by {signal.Signals(-code).name}"
    else:
        how = f"failed: {_last_line(rp.log) or f'exit code {code}'}"
    raise RnngenError(f"{who} {how}; the other ranks were stopped")


def _last_line(log: Path | None) -> str:
    if log is None:
        return ""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].removeprefix("error: ") if lines else ""
