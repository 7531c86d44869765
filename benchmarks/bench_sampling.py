"""Sampling speed (issue 5, target 3): characters per second of ``rnngen sample``.

    .venv/bin/python benchmarks/bench_sampling.py [--quick] [--repeats 3]
        [--short 2000] [--long 20000] [--corpus PATH]

Checkpoints with random weights (the speed does not depend on the values) are written
to a temporary folder: char LSTM 1x512, char LSTM 2x256 and char GRU 1x512, embed 64,
vocabulary = tiny-shakespeare's 65 characters.

rnngen figures are the *marginal* rate of the real CLI, run as a subprocess:

    rnngen sample CKPT --length L --seed 1 [--num 64] > /dev/null

timed for a short and a long L, alternating short/long ``--repeats`` times; the rate is
(L_long - L_short) * num / (median t_long - median t_short), so process start-up,
imports and checkpoint loading cancel out. ``rnngen sample`` uses its
default threads (all cores) and ``--temp 0.8``.

For contrast, in this process, with one thread, on the same 1x512 LSTM weights:

* "nn.LSTM one step at a time": embedding -> nn.LSTM on a (1, 1) input with the carried
  state -> Linear -> softmax -> multinomial, once per character.
* "nn.LSTMCell one step at a time": the same with an nn.LSTMCell holding the weights.
* "naive re-feed": what the seed tutorials do: feed the *whole* text generated so far
  through the model for every new character (O(n) per character, O(n^2) in total),
  starting from a one-character prime; the rate over the first N characters.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from rnngen.checkpoint import Checkpoint, save_checkpoint
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.tokenizers import CharTokenizer
from machine import machine_line  # noqa: E402  (benchmarks/ is on sys.path)

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
RNNGEN = [str(Path(sys.executable).with_name("rnngen"))]
if not Path(RNNGEN[0]).exists():
    RNNGEN = [sys.executable, "-m", "rnngen"]

MODELS = {  # name: (cell, layers, hidden)
    "LSTM 1x512": ("lstm", 1, 512),
    "LSTM 2x256": ("lstm", 2, 256),
    "GRU 1x512": ("gru", 1, 512),
}


def make_checkpoint(folder: Path, name: str, cell: str, layers: int, hidden: int,
                    tokenizer: CharTokenizer) -> tuple[Path, RNNLanguageModel]:
    torch.manual_seed(0)
    config = ModelConfig(cell=cell, vocab_size=tokenizer.vocab_size, embed=64, hidden=hidden, layers=layers)
    model = RNNLanguageModel(config)
    path = folder / (name.replace(" ", "-").lower() + ".safetensors")
    save_checkpoint(path, Checkpoint(config, tokenizer, {"step": 0}, dict(model.state_dict())))
    return path, model


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(ckpt: Path, length: int, num: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``rnngen sample`` process."""
    cmd = RNNGEN + ["sample", str(ckpt), "--length", str(length), "--seed", "1", "--num", str(num)]
    c0, t0 = children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt, dc = time.perf_counter() - t0, children_cpu() - c0
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return dt, dc


def marginal_rate(ckpt: Path, short: int, long: int, num: int, repeats: int) -> dict:
    run_cli(ckpt, short, num)  # warm the file cache and the imports
    ts, tl = [], []
    for r in range(repeats):
        pair = [(short, ts), (long, tl)]
        for length, bucket in (pair if r % 2 == 0 else pair[::-1]):
            bucket.append(run_cli(ckpt, length, num))
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    dt = med(tl, 0) - med(ts, 0)
    dc = med(tl, 1) - med(ts, 1)
    return {"t_short": med(ts, 0), "t_long": med(tl, 0),
            "rate": (long - short) * num / dt if dt > 0 else float("nan"),
            "cpu_rate": (long - short) * num / dc if dc > 0 else float("nan")}


@torch.inference_mode()
def lstm_one_step(model: RNNLanguageModel, n: int) -> tuple[float, float]:
    """nn.LSTM called once per character with a (1, 1) input: the usual hand-written loop."""
    x = torch.zeros(1, 1, dtype=torch.long)
    state = None
    g = torch.Generator().manual_seed(1)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        out, state = model.rnn(model.embedding(x), state)
        probs = F.softmax(model.head(out[:, -1]) / 0.8, dim=-1)
        x = torch.multinomial(probs, 1, generator=g)
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


@torch.inference_mode()
def lstmcell_one_step(model: RNNLanguageModel, n: int) -> float:
    cfg = model.config
    cell = torch.nn.LSTMCell(cfg.embed, cfg.hidden)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).copy_(getattr(model.rnn, name + "_l0"))
    x = torch.zeros(1, dtype=torch.long)
    h = c = torch.zeros(1, cfg.hidden)
    g = torch.Generator().manual_seed(1)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        h, c = cell(model.embedding(x), (h, c))
        probs = F.softmax(model.head(h) / 0.8, dim=-1)
        x = torch.multinomial(probs, 1, generator=g)[0]
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


@torch.inference_mode()
def naive_refeed(model: RNNLanguageModel, n: int) -> float:
    """Re-run the whole text so far through the fused model for every new character."""
    ids = torch.zeros(1, 1, dtype=torch.long)
    g = torch.Generator().manual_seed(1)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        logits, _ = model(ids)
        probs = F.softmax(logits[:, -1] / 0.8, dim=-1)
        ids = torch.cat([ids, torch.multinomial(probs, 1, generator=g)], 1)
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (< 1 minute): LSTM 1x512 only, fewer repeats")
    ap.add_argument("--repeats", type=int, default=None, help="short/long pairs per measurement (default 3, quick 1)")
    ap.add_argument("--short", type=int, default=2000)
    ap.add_argument("--long", type=int, default=None, help="default 20000 (quick 10000)")
    ap.add_argument("--num-short", type=int, default=200, help="--length of the short --num 64 run")
    ap.add_argument("--num-long", type=int, default=None, help="--length of the long --num 64 run (default 2000, quick 1000)")
    ap.add_argument("--naive", type=int, default=None, help="characters for the naive re-feed (default 300, quick 150)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    long = args.long or (10000 if args.quick else 20000)
    num_long = args.num_long or (1000 if args.quick else 2000)
    naive_n = args.naive or (150 if args.quick else 300)
    models = ["LSTM 1x512"] if args.quick else list(MODELS)

    if not args.corpus.exists():
        sys.exit(f"corpus not found: {args.corpus} (give --corpus PATH to tinyshakespeare.txt)")
    tokenizer = CharTokenizer.fit(args.corpus.read_text(encoding="utf-8"))
    print(machine_line())
    print(f"rnngen sample: marginal rate of `{' '.join(Path(a).name for a in RNNGEN)} sample CKPT --seed 1` "
          f"(default threads: all cores), --length {args.short} vs {long}, {repeats} pair(s); "
          f"--num 64: --length {args.num_short} vs {num_long}")
    rows = []  # (method, wall chars/s, CPU chars/s, note)
    with tempfile.TemporaryDirectory(prefix="rnngen-bench-sample-") as tmp:
        built = {name: make_checkpoint(Path(tmp), name, *MODELS[name], tokenizer) for name in models}
        for name in models:
            ckpt, _ = built[name]
            r = marginal_rate(ckpt, args.short, long, 1, repeats)
            rows.append((f"rnngen sample, {name}, batch 1", r["rate"], r["cpu_rate"],
                         f"t({args.short})={r['t_short']:.2f}s t({long})={r['t_long']:.2f}s"))
            print(f"  ... {rows[-1][0]}: {r['rate']:,.0f} chars/s (CPU-time rate {r['cpu_rate']:,.0f})", flush=True)
        for name in models[:1] if args.quick else models:
            ckpt, _ = built[name]
            r = marginal_rate(ckpt, args.num_short, num_long, 64, repeats)
            rows.append((f"rnngen sample, {name}, --num 64", r["rate"], r["cpu_rate"],
                         f"t({args.num_short})={r['t_short']:.2f}s t({num_long})={r['t_long']:.2f}s, aggregate"))
            print(f"  ... {rows[-1][0]}: {r['rate']:,.0f} chars/s (CPU-time rate {r['cpu_rate']:,.0f})", flush=True)

        torch.set_num_threads(1)
        model = built["LSTM 1x512"][1].eval()
        n_step = 1000 if args.quick else 3000
        med = lambda rs, i: statistics.median(r[i] for r in rs)
        lstm_one_step(model, 50)  # warm-up
        rates = [lstm_one_step(model, n_step) for _ in range(repeats)]
        rows.append(("nn.LSTM one step at a time, LSTM 1x512", med(rates, 0), med(rates, 1),
                     f"{n_step} chars, in-process"))
        lstmcell_one_step(model, 50)
        rates = [lstmcell_one_step(model, n_step) for _ in range(repeats)]
        rows.append(("nn.LSTMCell one step at a time, LSTM 1x512", med(rates, 0), med(rates, 1),
                     f"{n_step} chars, in-process"))
        naive_refeed(model, 20)
        wall, cpu = naive_refeed(model, naive_n)
        rows.append(("naive re-feed whole text, LSTM 1x512", wall, cpu,
                     f"first {naive_n} chars; slows down as the text grows"))

    print()
    width = max(len(r[0]) for r in rows)
    print(f"{'method':<{width}}  {'chars/s':>10}  {'CPU-time':>10}  notes")
    for name, rate, cpu_rate, note in rows:
        print(f"{name:<{width}}  {rate:>10,.0f}  {cpu_rate:>10,.0f}  {note}")
    print("\nchars/s: wall clock (the figure the target is about). CPU-time: the same characters over the"
          "\nprocess's user+system CPU seconds, which a loaded machine disturbs much less (single-threaded"
          "\nwork: it equals wall clock on an idle core)."
          f"\nload average at the end: {os.getloadavg()[0]:.2f}"
          "\ntarget (issue 5): rnngen sample, LSTM 1x512, batch 1 >= 10,000 chars/s (marginal).")


if __name__ == "__main__":
    main()
