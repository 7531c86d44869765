"""Reliability: memory. A training soak (RSS over time) and the peak memory of a big corpus.

    .venv/bin/python benchmarks/soak.py [--seconds 90] [--big-mb 256] [--threads 1]

Soak: trains an LSTM 1x128 (batch 16 x seq 64, evaluation and two checkpoint writes every
50 steps) in this process for --seconds, sampling the resident set size every few seconds.
After a warm-up (the first quarter of the run) it fits a line to RSS over time and
extrapolates the slope to one hour: a leak shows up as a steady climb.

Big corpus: writes a --big-mb corpus, then in a fresh process builds the trainer and runs
two steps (read, decode, tokenize, window, train) and reports peak RSS next to the corpus
size. --big-mb 0 skips it.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _corpus_text(n_chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = ["the", "king", "and", "queen", "of", "rome", "speak", "hear", "me", "citizen", "first", "all",
             "resolved", "famish", "die", "enemy", "people", "know", "you", "are"]
    lines, size = [], 0
    while size < n_chars:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12))).capitalize() + ".\n"
        lines.append(line)
        size += len(line)
    return "".join(lines)


def soak(seconds: float, *, threads: int = 1, sample_every: float = 3.0, quiet: bool = False) -> dict:
    """Train for ``seconds``; return RSS samples and the post-warm-up slope (MB per hour)."""
    import threading

    import torch

    from rnngen.corpus import Corpus
    from rnngen.training import StepEvent, TrainConfig, Trainer

    torch.set_num_threads(threads)
    text = _corpus_text(400_000)
    folder = Path(tempfile.mkdtemp(prefix="rnngen-soak-"))
    config = TrainConfig(cell="lstm", layers=1, hidden=128, embed=32, seq_len=64, batch_size=16, lr=2e-3,
                         time_s=seconds, eval_every=50, threads=threads, precision="fp32", seed=1)
    samples: list[tuple[float, int, float]] = []
    t0 = time.perf_counter()
    next_at = [0.0]
    steps = [0]

    def on_event(event):
        if isinstance(event, StepEvent):
            steps[0] = event.step
            now = time.perf_counter() - t0
            if now >= next_at[0]:
                samples.append((now, event.step, rss_mb()))
                next_at[0] = now + sample_every
                if not quiet:
                    print(f"  t={now:6.1f}s  step {event.step:6d}  rss {samples[-1][2]:8.1f} MB", flush=True)

    trainer = Trainer(config, Corpus(text, "soak", ()), out=folder / "soak.safetensors", callback=on_event)
    trainer.run(threading.Event())
    samples.append((time.perf_counter() - t0, steps[0], rss_mb()))
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    warm = [s for s in samples if s[0] >= seconds * 0.25] or samples
    slope = 0.0
    if len(warm) >= 2:
        n = len(warm)
        mean_t = sum(s[0] for s in warm) / n
        mean_r = sum(s[2] for s in warm) / n
        var = sum((s[0] - mean_t) ** 2 for s in warm)
        slope = sum((s[0] - mean_t) * (s[2] - mean_r) for s in warm) / var if var else 0.0
    return {
        "samples": samples,
        "steps": steps[0],
        "warm_rss_first": warm[0][2],
        "warm_rss_last": warm[-1][2],
        "warm_rss_max_minus_min": max(s[2] for s in warm) - min(s[2] for s in warm),
        "slope_mb_per_hour": slope * 3600,
    }


BIG_PROBE = r"""
import resource, sys, time
sys.path.insert(0, sys.argv[4])
from rnngen.corpus import load_corpus
from rnngen.training import TrainConfig, Trainer
t0 = time.perf_counter()
corpus = load_corpus(sys.argv[1])
trainer = Trainer(TrainConfig(level=sys.argv[2], steps=2, hidden=64, embed=32, layers=1, threads=1,
                              eval_every=10**9, precision="fp32"), corpus, out=sys.argv[3])
del corpus
trainer.run()
print(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} {time.perf_counter() - t0:.1f}")
"""


def big_corpus(mb: int, level: str = "char") -> tuple[float, float]:
    """Peak RSS (MB) and seconds of a 2-step training run on an ``mb`` MB corpus, in a fresh process."""
    folder = Path(tempfile.mkdtemp(prefix="rnngen-big-"))
    corpus = folder / "big.txt"
    block = _corpus_text(1 << 20, seed=2)
    with open(corpus, "w", encoding="utf-8") as handle:
        for _ in range(mb):
            handle.write(block[: 1 << 20])
    try:
        out = subprocess.run([sys.executable, "-c", BIG_PROBE, str(corpus), level, str(folder / "big.safetensors"),
                              str(REPO)], capture_output=True, text=True, check=True).stdout.split()
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--big-mb", type=int, default=256)
    parser.add_argument("--level", default="char", choices=["char", "word"])
    args = parser.parse_args()

    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"soak: LSTM 1x128, batch 16 x seq 64, {args.threads} thread(s), {args.seconds:.0f} s")
    result = soak(args.seconds, threads=args.threads)
    print(f"soak: {result['steps']} steps; after warm-up RSS {result['warm_rss_first']:.1f} -> "
          f"{result['warm_rss_last']:.1f} MB (range {result['warm_rss_max_minus_min']:.1f} MB); "
          f"slope {result['slope_mb_per_hour']:+.1f} MB/hour extrapolated")
    if args.big_mb:
        peak, secs = big_corpus(args.big_mb, args.level)
        print(f"big corpus: {args.big_mb} MB {args.level}-level, 2 training steps: peak RSS {peak:.0f} MB "
              f"({peak / args.big_mb:.2f} x the corpus), {secs:.0f} s; 1 GB extrapolates to ~{peak / args.big_mb * 1024 / 1024:.1f} GB")


if __name__ == "__main__":
    main()
