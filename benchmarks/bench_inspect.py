"""Inspection speed: one 500-token window through rnngen.probes on a 2x256 LSTM.

Times ``inspect_ids`` (the step-by-step unroll recording h, c, gates and top-k, plus the
one backward pass for ||dL/dh_t||) on random-init weights (speed does not depend on
training), for 1 thread and torch's default thread count, and the JSON export of the
record. The TUI's views and ``rnngen inspect`` pay exactly this.

    .venv/bin/python benchmarks/bench_inspect.py [--tokens 500] [--repeats 5] [--append]

--append writes the result under "## Inspection speed" in benchmarks/README.md
(replacing that section only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import time
from pathlib import Path

import torch

from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.probes import inspect_ids
from machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path)

README = Path(__file__).resolve().parent / "README.md"
HEADING = "## Inspection speed"


def time_it(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cells", default="lstm,gru,rnn")
    parser.add_argument("--append", action="store_true", help="write the result into benchmarks/README.md")
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    rows = []
    for cell in args.cells.split(","):
        torch.manual_seed(0)
        model = RNNLanguageModel(ModelConfig(cell=cell, vocab_size=65, embed=64, hidden=256, layers=2)).eval()
        ids = torch.randint(0, 65, (args.tokens,), generator=torch.Generator().manual_seed(1))
        for threads in sorted({1, default_threads}):
            torch.set_num_threads(threads)
            times = time_it(lambda: inspect_ids(model, ids), args.repeats)
            rows.append((cell, threads, statistics.median(times), min(times)))
            print(f"{cell.upper()} 2x256, {args.tokens} tokens, {threads} thread(s): "
                  f"median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms", flush=True)
        torch.set_num_threads(default_threads)
        if cell == "lstm":
            record = inspect_ids(model, ids)
            json_times = time_it(lambda: json.dumps(record.to_json()), max(1, args.repeats // 2))
            json_ms = statistics.median(json_times) * 1000
            size_mb = len(json.dumps(record.to_json())) / 1e6
            print(f"LSTM record to JSON: {json_ms:.0f} ms, {size_mb:.1f} MB")

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = (f"{cpu_model()}, {os.cpu_count()} logical CPUs shared with other users (load average "
               f"{load} at the end of the run), {default_threads} torch threads by default "
               f"(os: {platform.system()} {platform.machine()}), torch {torch.__version__}, "
               f"Python {platform.python_version()}")
    print(machine)
    if not args.append:
        return
    lines = [
        HEADING,
        "",
        f"`python benchmarks/bench_inspect.py --tokens {args.tokens} --repeats {args.repeats}` reads one "
        f"{args.tokens}-token window with `rnngen.probes.inspect_ids` (step-by-step unroll recording h, c, "
        "every gate and the top-k next tokens, then one backward pass for ||dL/dh_t|| of every step and "
        "layer) on random-init 2x256 models, embed 64, vocabulary 65. Median (best) of "
        f"{args.repeats} runs after a warm-up; this is what `rnngen inspect` and each TUI re-inspection pay. "
        "One thread is the default of `rnngen inspect` and `rnngen tui`: these are long chains of "
        "small operations, where a second thread only adds synchronisation (and here competes with "
        "the other users of the two cores).",
        "",
        f"Machine: {machine}.",
        "",
        "| model | threads | median | best |",
        "|---|---|---|---|",
    ]
    for cell, threads, median, best in rows:
        lines.append(f"| {cell.upper()} 2x256 | {threads} | {median * 1000:.0f} ms | {best * 1000:.0f} ms |")
    lines += ["", f"Exporting the LSTM record as JSON (`rnngen inspect --json`): {json_ms:.0f} ms, "
              f"{size_mb:.1f} MB.", ""]
    section = "\n".join(lines)
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    README.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    print(f"wrote {README}")


if __name__ == "__main__":
    main()
