"""Training throughput (issue 5, target 2): rnngen's Trainer against a hand-written loop.

    .venv/bin/python benchmarks/bench_train_throughput.py [--quick] [--threads 2,1]
        [--steps 8] [--rounds 5] [--corpus PATH]

"plain" is the loop a user would write by hand (fp32):

    nn.Embedding(65, 64) -> nn.LSTM(64, 256, 2, batch_first=True) -> nn.Linear(256, 65)
    torch.optim.Adam(lr=2e-3), cross_entropy, clip_grad_norm_(1.0), hidden state carried
    (detached) between windows, loss.item() every step; batch 64, seq 128.

"rnngen auto" / "rnngen fp32" are ``rnngen.training.Trainer`` at the same sizes on the
same corpus (TrainConfig(hidden=256, layers=2, embed=64, batch_size=64, seq_len=128),
evaluation never due), timing ``trainer.train_step()`` alone: precision "auto" (bf16
autocast where the CPU has AMX/AVX512-BF16, the default) and "fp32" (to show where the
gain comes from).

Method: every contender is built once and warmed up; then rounds alternate
plain, auto, fp32, plain, auto, fp32, ... each timing ``--steps`` consecutive steps, so
load from other processes hits all of them alike. Reported: median tokens/s over rounds,
and the ratio to plain computed per round (median of the per-round ratios).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnngen.corpus import Corpus
from rnngen.training import TrainConfig, Trainer
from machine import machine_line  # noqa: E402  (benchmarks/ is on sys.path)

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
BATCH, SEQ, HIDDEN, LAYERS, EMBED = 64, 128, 256, 2, 64


class PlainLM(nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, LAYERS, batch_first=True)
        self.head = nn.Linear(HIDDEN, vocab)

    def forward(self, x, state):
        out, state = self.lstm(self.emb(x), state)
        return self.head(out), state


class PlainLoop:
    """The hand-written baseline: contiguous streams, carried state, Adam, clipping."""

    name = "plain (fp32)"

    def __init__(self, ids: np.ndarray, vocab: int, seed: int = 0):
        torch.manual_seed(seed)
        self.vocab = vocab
        self.model = PlainLM(vocab)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=2e-3)
        n = (len(ids) // BATCH) * BATCH
        self.data = torch.from_numpy(ids[:n].astype(np.int64)).view(BATCH, -1)
        self.pos = 0
        self.state = None

    def step(self) -> float:
        if self.pos + SEQ + 1 > self.data.shape[1]:
            self.pos, self.state = 0, None
        x = self.data[:, self.pos : self.pos + SEQ]
        y = self.data[:, self.pos + 1 : self.pos + SEQ + 1]
        self.pos += SEQ
        logits, state = self.model(x, self.state)
        self.state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, self.vocab), y.reshape(-1))
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        return loss.item()


class RnngenLoop:
    def __init__(self, corpus: Corpus, precision: str, threads: int, out: Path):
        # dropout 0, as the plain loop: the comparison is of the loops, not of regularisation.
        config = TrainConfig(hidden=HIDDEN, layers=LAYERS, embed=EMBED, batch_size=BATCH, seq_len=SEQ, dropout=0.0,
                             steps=10**9, eval_every=10**9, precision=precision, threads=threads)
        self.trainer = Trainer(config, corpus, out=out)
        amp = self.trainer.amp_dtype
        self.name = f"rnngen {precision}" + (f" ({str(amp).replace('torch.', '')})" if precision == "auto" else "")

    def step(self) -> float:
        return self.trainer.train_step().loss


def time_block(contender, steps: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``steps`` consecutive steps."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        contender.step()
    return time.perf_counter() - t0, time.process_time() - c0


def bench(threads: int, corpus: Corpus, ids: np.ndarray, vocab: int, steps: int, rounds: int,
          warmup: int, tmp: Path) -> list[dict]:
    torch.set_num_threads(threads)
    contenders = [PlainLoop(ids, vocab)]
    for precision in ("auto", "fp32"):
        contenders.append(RnngenLoop(corpus, precision, threads, tmp / f"t{threads}-{precision}.safetensors"))
    torch.set_num_threads(threads)  # the Trainer set it too; make sure all agree
    for c in contenders:
        time_block(c, warmup)
    times = {c.name: [] for c in contenders}
    for r in range(rounds):
        order = contenders if r % 2 == 0 else contenders[::-1]  # alternate order: no position bias
        for c in order:
            times[c.name].append(time_block(c, steps))
    tokens = steps * BATCH * SEQ
    base = [w for w, _ in times[contenders[0].name]]
    base_cpu = [c for _, c in times[contenders[0].name]]
    rows = []
    for c in contenders:
        ts = [w for w, _ in times[c.name]]
        cs = [cpu for _, cpu in times[c.name]]
        rows.append({
            "threads": threads, "name": c.name,
            "tok_s": tokens / statistics.median(ts),
            "tok_s_min": tokens / max(ts), "tok_s_max": tokens / min(ts),
            "ratio": statistics.median([b / t for b, t in zip(base, ts)]),
            "cpu_tok_s": tokens / statistics.median(cs),
            "cpu_ratio": statistics.median([b / t for b, t in zip(base_cpu, cs)]),
        })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run: first thread count only, 2 rounds x 2 steps")
    ap.add_argument("--threads", default="2,1", help="comma-separated thread counts")
    ap.add_argument("--steps", type=int, default=None, help="steps per timed block (default 8, quick 2)")
    ap.add_argument("--rounds", type=int, default=None, help="timed blocks per contender (default 5, quick 2)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--mode", choices=("native", "avx2"), default="native",
                    help="avx2: emulate an AVX2-only laptop (oneDNN, ATen and MKL limited to AVX2)")
    args = ap.parse_args()
    if args.mode == "avx2" and os.environ.get("ONEDNN_MAX_CPU_ISA") != "AVX2":
        # The limits are read when torch loads: run this script again with them set.
        env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2", MKL_ENABLE_INSTRUCTIONS="AVX2")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    threads = [int(t) for t in args.threads.split(",")]
    if args.quick:
        threads = threads[:1]
    steps = args.steps or (2 if args.quick else 8)
    rounds = args.rounds or (2 if args.quick else 5)
    warmup = 1 if args.quick else args.warmup
    if not args.corpus.exists():
        sys.exit(f"corpus not found: {args.corpus} (give --corpus PATH to tinyshakespeare.txt)")
    text = args.corpus.read_text(encoding="utf-8")
    corpus = Corpus(text=text, name="tinyshakespeare", sources=(args.corpus,))
    vocab_chars = sorted(set(text))
    lut = {ch: i for i, ch in enumerate(vocab_chars)}
    train_text = text[: int(0.9 * len(text))]
    ids = np.fromiter((lut[c] for c in train_text), dtype=np.uint8, count=len(train_text))

    print(machine_line(threads) + f"; mode {args.mode}")
    print(f"model: Embedding({len(vocab_chars)},{EMBED}) -> LSTM({EMBED},{HIDDEN},{LAYERS}) -> Linear; "
          f"batch {BATCH} x seq {SEQ} = {BATCH * SEQ} tokens/step; {rounds} rounds x {steps} steps, "
          f"warm-up {warmup}, interleaved")
    all_rows = []
    with tempfile.TemporaryDirectory(prefix="rnngen-bench-") as tmp:
        for t in threads:
            all_rows += bench(t, corpus, ids, len(vocab_chars), steps, rounds, warmup, Path(tmp))
    print()
    print(f"{'threads':>7}  {'contender':<24} {'tokens/s (median)':>18} {'min..max':>17} {'vs plain':>9}"
          f" {'tok/CPU-s':>10} {'vs plain':>9}")
    for r in all_rows:
        print(f"{r['threads']:>7}  {r['name']:<24} {r['tok_s']:>18,.0f} "
              f"{r['tok_s_min']:>8,.0f}..{r['tok_s_max']:<8,.0f} {r['ratio']:>8.2f}x"
              f" {r['cpu_tok_s']:>10,.0f} {r['cpu_ratio']:>8.2f}x")
    print("\nvs plain = median over rounds of (plain block time / contender block time), same round."
          "\ntok/CPU-s = tokens per second of process CPU time (user+system, all threads); with 1 thread it"
          "\nequals wall-clock on an idle core and is far less disturbed by other processes."
          f"\nload average at the end: {os.getloadavg()[0]:.2f}"
          "\ntarget (issue 5): rnngen (default precision) >= 1.10x plain.")


if __name__ == "__main__":
    main()
