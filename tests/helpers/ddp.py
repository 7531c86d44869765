"""Helpers for the multi-process training tests: start ``rnngen train --nproc N`` for real,
wait on what it does (never on the clock), find its rank processes and their sockets in /proc."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.cli import TINY

# fp32: bf16 autocast (on CPUs that have it) would blur comparisons with one process.
DDP_ARGS = [*TINY, "--precision", "fp32", "--dropout", "0"]


def ddp_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", **extra)


def run_rnngen(*args, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """``python -m rnngen ARGS`` to completion; a hang fails the test at ``timeout``, and then
    the whole process tree is killed (not only the launcher)."""
    cmd = [sys.executable, "-m", "rnngen", *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or ddp_env())
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in [proc.pid, *descendants(proc.pid)]:
            with _gone_ok():
                os.kill(pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"rnngen {' '.join(cmd[3:])} did not finish within {timeout}s (hung?)") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@contextmanager
def started(args, log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """``python -m rnngen ARGS`` running in the background, its output in ``log``. When the
    block ends, whatever still runs of it is killed: the launcher, its descendants, and any
    pid added to ``proc.tracked`` (ranks outlive a killed launcher, out of its tree)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rnngen", *map(str, args)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env or ddp_env(),
        )
    proc.tracked = set()  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        # A tracked pid is killed only while it is still one of this job's ranks (pids get reused).
        mine = {pid for pid in proc.tracked if environ(pid).get("RNNGEN_LAUNCHER_PID") == str(proc.pid)}  # type: ignore[attr-defined]
        leftovers = mine | set(descendants(proc.pid))
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in leftovers:
            with _gone_ok():
                os.kill(pid, signal.SIGKILL)


@contextmanager
def _gone_ok():
    try:
        yield
    except (ProcessLookupError, FileNotFoundError, PermissionError):
        pass


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120.0):
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> list[int]:
    """Every living process below ``root`` (children, grandchildren, ...)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = _ppid(int(entry))
            if ppid is not None:
                parents[int(entry)] = ppid
    found, frontier = [], {root}
    while frontier:
        children = {pid for pid, ppid in parents.items() if ppid in frontier}
        found += sorted(children)
        frontier = children
    return found


def environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def ranks_of(launcher: int) -> dict[int, int]:
    """rank -> pid of the training processes below ``launcher``."""
    found = {}
    for pid in descendants(launcher):
        env = environ(pid)
        if "RANK" in env and "rnngen" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            found[int(env["RANK"])] = pid
    return found


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# ---- sockets, read from /proc (no psutil) ------------------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with _gone_ok():
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # /proc prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.IPv4Address(words) if len(raw) == 4 else ipaddress.IPv6Address(words)
    return ip, int(port, 16)


def listening_sockets(pid: int) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """The TCP addresses ``pid`` listens on (state 0A in /proc/<pid>/net/tcp and tcp6)."""
    mine = _socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6"):
        with _gone_ok():
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
            for line in lines:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in mine:
                    found.append(_address(fields[1]))
    return found


def is_loopback(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)
