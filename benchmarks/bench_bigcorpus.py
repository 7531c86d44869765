"""Big corpora: encode time, time until the first training step, and peak memory.

Makes a ~100 MB corpus by repeating tiny-shakespeare, then for char and word level runs
the real `rnngen train BIG --steps 1` in a subprocess and reports (from the trainer's own
events) the time to encode and to finish the first step, plus peak RSS.

    .venv/bin/python benchmarks/bench_bigcorpus.py [--mb 100]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"

PROBE = r"""
import resource, sys, time
t0 = time.perf_counter()
from rnngen.corpus import load_corpus
from rnngen.training import StepEvent, TrainConfig, Trainer
corpus = load_corpus(sys.argv[1])
t_read = time.perf_counter()
first = []
def cb(e):
    if isinstance(e, StepEvent) and not first:
        first.append(time.perf_counter())
trainer = Trainer(TrainConfig(level=sys.argv[2], steps=1, hidden=64, embed=32, layers=1, threads=2, eval_every=10**9,
                              eval_tokens=10_000),
                  corpus, out=sys.argv[3], callback=cb)
t_ready = time.perf_counter()
del corpus
trainer.run()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{t_read - t0:.2f} {t_ready - t_read:.2f} {first[0] - t0:.2f} {rss:.0f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=100.0)
    args = parser.parse_args()
    base = SHAKESPEARE.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RNNGEN_CORPORA"] = str(Path(tmp) / "corpora")  # the encoding cache lands here
        big = Path(tmp) / "big.txt"
        reps = max(1, int(args.mb * 1e6 / len(base.encode())))
        big.write_text(base * reps, encoding="utf-8")
        size_mb = big.stat().st_size / 1e6
        print(f"corpus: {size_mb:.1f} MB ({reps} x tiny-shakespeare); torch threads 2")
        # The same run on 1 MB of text: the process, torch, the model and its optimizer.
        small = Path(tmp) / "small.txt"
        small.write_text(base, encoding="utf-8")
        base_rss = {}
        for level in ("char", "word"):
            out = subprocess.run([sys.executable, "-c", PROBE, str(small), level, str(Path(tmp) / f"s-{level}.st")],
                                 capture_output=True, text=True, check=True)
            base_rss[level] = float(out.stdout.split()[-1])
        print(f"baseline: the same run on 1 MB peaks at {base_rss['char']:.0f} MB (char), {base_rss['word']:.0f} MB (word)")
        print(f"{'level':<6} {'read s':>7} {'encode s':>9} {'first step s':>13} {'peak RSS MB':>12} "
              f"{'(RSS - base) / corpus':>22}")
        runs = (("char", "char"), ("word", "word"), ("word", "word, 2nd run (cached encoding)"))
        for i, (level, label) in enumerate(runs):
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", PROBE, str(big), level, str(Path(tmp) / f"{i}-{level}.safetensors")],
                capture_output=True, text=True, check=True,
            )
            wall = time.perf_counter() - t0
            read_s, encode_s, first_s, rss = out.stdout.split()[-4:]
            print(f"{label:<6} {float(read_s):>7.2f} {float(encode_s):>9.2f} {float(first_s):>13.2f} "
                  f"{float(rss):>12.0f} {(float(rss) - base_rss[level]) / size_mb:>22.2f}   (process wall {wall:.1f}s)")
        print("encode s: the Trainer's set-up (split, fit vocabulary, encode, build model); "
              "first step s: from process start (imports included) to the end of step 1.")


if __name__ == "__main__":
    main()
