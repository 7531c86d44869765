"""Reliability: a long `train --tui` run in a real terminal, watched from outside.

    .venv/bin/python benchmarks/soak_tui.py [--minutes 30] [--every 30] [--corpus FILE] [--threads 1]

Starts `rnngen train CORPUS --tui --time Nm` in a detached tmux session (120 x 40) and every
--every seconds reads, from /proc, the run's resident memory, open file descriptors and
threads, and counts how often the dashboard's screen changes (tmux capture-pane every 0.1 s
for 3 s: visible updates per second). After a warm-up (the first tenth) it fits a line to
each series: a leak or a slowing dashboard shows up as a slope well outside the noise.
Prints one row per sample and the slopes; --jsonl FILE also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SESSION = "rnngen-soak-tui"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def proc_figures(pid: int) -> dict[str, float]:
    """Resident memory (MB), open fds and threads of ``pid``, read from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
    }


def screen_updates_per_second(window: float = 3.0, every: float = 0.1) -> float:
    """How many times a second the visible screen changes (capture-pane polled every 0.1 s)."""
    last, changes, t_end = None, 0, time.monotonic() + window
    while time.monotonic() < t_end:
        frame = tmux("capture-pane", "-p", "-t", SESSION)
        if last is not None and frame != last:
            changes += 1
        last = frame
        time.sleep(every)
    return changes / window


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, scaled to one hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return 3600 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--every", type=float, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--corpus", default=str(REPO.parent / "shared/data/tinyshakespeare.txt"))
    parser.add_argument("--jsonl", type=Path)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("error: tmux is needed (apt-get install -y tmux)")

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    folder = Path(tempfile.mkdtemp(prefix="rnngen-soak-tui-"))
    rnngen = REPO / ".venv/bin/rnngen"
    command = (f"PYTHONPATH={REPO} exec {rnngen} train {args.corpus} --tui --time {args.minutes:g}m --threads {args.threads} "
               f"--out {folder}/soak.safetensors")
    print(f"run: rnngen train {Path(args.corpus).name} --tui --time {args.minutes:g}m --threads {args.threads}, "
          f"tmux 120x40, sampled every {args.every:g} s")
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    pid = int(tmux("new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", SESSION, "-x", "120", "-y", "40",
                   command).strip())
    rows: list[dict[str, float]] = []
    t0 = time.monotonic()
    log = args.jsonl.open("w") if args.jsonl else None
    print(f"{'t (s)':>7} {'RSS MB':>8} {'fds':>4} {'threads':>7} {'updates/s':>9}")
    try:
        while time.monotonic() - t0 < args.minutes * 60 - args.every / 2 and Path(f"/proc/{pid}").exists():
            time.sleep(max(0.0, args.every - (time.monotonic() - t0) % args.every))
            row = {"t": round(time.monotonic() - t0, 1), **proc_figures(pid),
                   "updates_per_s": screen_updates_per_second()}
            rows.append(row)
            print(f"{row['t']:7.0f} {row['rss_mb']:8.1f} {row['fds']:4.0f} {row['threads']:7.0f} "
                  f"{row['updates_per_s']:9.1f}", flush=True)
            if log:
                log.write(json.dumps(row) + "\n")
                log.flush()
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
        if log:
            log.close()
    warm = [r for r in rows if r["t"] >= args.minutes * 6] or rows
    for key, unit in (("rss_mb", "MB"), ("fds", "fds"), ("threads", "threads"), ("updates_per_s", "updates/s")):
        values = [r[key] for r in warm]
        print(f"{key}: {min(values):.1f}..{max(values):.1f} after warm-up, "
              f"slope {slope_per_hour([(r['t'], r[key]) for r in warm]):+.2f} {unit}/hour")


if __name__ == "__main__":
    main()
