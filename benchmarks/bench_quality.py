"""Quality per wall-clock (issue 5, target 1): validation loss after a fixed training time.

    .venv/bin/python benchmarks/bench_quality.py [--quick] [--time 150s] [--extra "--threads 2"]
        [--corpus PATH] [--keep DIR]

Makes nanoGPT's split of tiny-shakespeare in a temporary folder (train.txt = the first
int(0.9 * n) characters, val.txt = the rest, as data/shakespeare_char/prepare.py does),
then runs the real CLI with default settings:

    rnngen train train.txt --time 150s --out model.safetensors [EXTRA...]
    rnngen eval model.best.safetensors val.txt --json

and prints the validation loss (nats/char), the wall time of the whole ``rnngen train``
process and the training steps done. Note ``rnngen train`` holds back its own last 10%
of train.txt for its evaluations (--val-frac 0.1), so it trains on 81% of the corpus;
val.txt is never seen. Target: val loss <= 1.40 nats/char at --time 150s. Reference on
this machine kind: nanoGPT's CPU command from its README reaches 1.886 in 153 s.

--quick runs ``--time 20s`` (a smoke test; the loss is far from the target).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_line  # noqa: E402  (benchmarks/ is on sys.path)

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
RNNGEN = [str(Path(sys.executable).with_name("rnngen"))]
if not Path(RNNGEN[0]).exists():
    RNNGEN = [sys.executable, "-m", "rnngen"]


def run(cmd: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    print("$ " + " ".join(shlex.quote(c) for c in ["rnngen"] + cmd[len(RNNGEN):]), flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done, dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="--time 20s")
    ap.add_argument("--time", default=None, help="training time for rnngen train --time (default 150s)")
    ap.add_argument("--extra", default="", help="extra arguments for rnngen train, one string")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = ap.parse_args()
    budget = args.time or ("20s" if args.quick else "150s")
    if not args.corpus.exists():
        sys.exit(f"corpus not found: {args.corpus} (give --corpus PATH to tinyshakespeare.txt)")
    text = args.corpus.read_text(encoding="utf-8")
    cut = int(0.9 * len(text))

    work = args.keep or Path(tempfile.mkdtemp(prefix="rnngen-bench-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        (work / "train.txt").write_text(text[:cut], encoding="utf-8")
        (work / "val.txt").write_text(text[cut:], encoding="utf-8")
        out = work / "model.safetensors"
        if out.exists():
            sys.exit(f"{out} exists; use an empty --keep folder")
        print(machine_line())
        print(f"split: train.txt {cut:,} chars, val.txt {len(text) - cut:,} chars (nanoGPT's 90/10)")
        _, t_train = run(RNNGEN + ["train", "train.txt", "--time", budget, "--out", out.name]
                         + shlex.split(args.extra), work)
        best = work / "model.best.safetensors"
        done, t_eval = run(RNNGEN + ["eval", best.name, "val.txt", "--json"], work)
        result = json.loads(done.stdout.strip().splitlines()[-1])

        from rnngen.checkpoint import load_checkpoint

        train = load_checkpoint(out).train
        cfg = train.get("config", {})
        hist = train.get("history", [])
        print()
        print(f"{'budget (--time)':<28} {budget}")
        print(f"{'extra args':<28} {args.extra or '(none)'}")
        print(f"{'model':<28} {cfg.get('cell')} {cfg.get('layers')}x{cfg.get('hidden')}, embed {cfg.get('embed')}, "
              f"batch {cfg.get('batch_size')} x seq {cfg.get('seq_len')}, lr {cfg.get('lr')}, "
              f"precision {cfg.get('precision')}")
        print(f"{'steps / tokens trained':<28} {train.get('step')} / {train.get('tokens_seen'):,}")
        print(f"{'training time (rnngen)':<28} {train.get('elapsed_s'):.1f} s (steps + evaluations)")
        print(f"{'rnngen train wall time':<28} {t_train:.1f} s (whole process: start-up, saves, final eval)")
        if hist:
            print(f"{'best internal val (step)':<28} {train.get('best_val_loss'):.4f} ({train.get('best_step')})")
        print(f"{'rnngen eval wall time':<28} {t_eval:.1f} s")
        print(f"{'VAL LOSS val.txt':<28} {result['loss']:.4f} nats/char  (bpc {result['bpc']:.4f}, "
              f"{result['tokens']:,} tokens)")
        print("\ntarget (issue 5): <= 1.40 nats/char at --time 150s; "
              "reference nanoGPT CPU command: 1.886 in 153 s on this machine kind.")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
