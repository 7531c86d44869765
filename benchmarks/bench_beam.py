"""Beam search cost per token (issue 13, item 6): ``--beam 5`` against greedy sampling.

    .venv/bin/python benchmarks/bench_beam.py [--length 2000] [--threads 1] [--repeats 3]

Random-weight char models (the speed does not depend on the values), vocabulary 65
(tiny-shakespeare's size), embed 64: LSTM 1x128 (small) and LSTM 1x512. In this process,
so start-up and loading are left out:

* greedy: ``run_samples(..., temperature 0)``, the sampler ``rnngen sample --temp 0`` runs
  (the TorchScript loop, no Python between tokens);
* beam 5: ``beam_search(width=5)``, what ``rnngen sample --beam 5`` runs.

Prints tokens per second for each (median of ``--repeats``) and the cost ratio
beam-5 / greedy per token; the target is at most ~5.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine_line  # noqa: E402

from rnngen.beam_search import beam_search  # noqa: E402
from rnngen.model import ModelConfig, RNNLanguageModel  # noqa: E402
from rnngen.sampling import SamplingConfig, StepModel, run_samples  # noqa: E402
from rnngen.tokenizers import CharTokenizer  # noqa: E402

VOCAB = "".join(chr(c) for c in range(48, 48 + 64)) + "\n"  # 65 characters, "a" among them


def rate(fn, length: int, repeats: int) -> float:
    fn(length=10)  # warm-up: TorchScript compiles on the first call
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(length=length)
        times.append(time.perf_counter() - start)
    return length / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tok = CharTokenizer(sorted(VOCAB))
    print(machine_line())
    print(f"threads {args.threads}, {args.length} tokens, median of {args.repeats}")
    for hidden in (128, 512):
        torch.manual_seed(0)
        model = RNNLanguageModel(ModelConfig(cell="lstm", vocab_size=tok.vocab_size, embed=64, hidden=hidden, layers=1))
        model.eval()
        stepper = StepModel(model)
        greedy = SamplingConfig(temperature=0)

        common = dict(prime="a", step_model=stepper)
        g = rate(partial(run_samples, model, tok, config=greedy, seed=1, **common), args.length, args.repeats)
        b = rate(partial(beam_search, model, tok, width=args.width, **common), args.length, args.repeats)
        print(
            f"LSTM 1x{hidden}: greedy {g:,.0f} tok/s, beam {args.width} {b:,.0f} tok/s, "
            f"beam/greedy cost per token {g / b:.1f}x"
        )


if __name__ == "__main__":
    main()
