"""Load on ``rnngen serve`` (issue 14): concurrent streaming clients on loopback for N seconds.

    .venv/bin/python benchmarks/bench_serve.py [--clients 50] [--seconds 10] [--max-tokens 64]
        [--hidden 256] [--temperature 0.8] [--seed-each] [--threads N]

A char LSTM with random weights (1 layer, ``--hidden``, tiny-shakespeare-sized vocabulary of
65 characters; speed does not depend on the values) is served by the real ``rnngen serve``
subprocess. Each client sends streamed completions one after another until the time is up:
``--max-tokens`` tokens each, one shared temperature (so the server batches them), or with
``--seed-each`` a seed per request (each then runs alone, the reproducible mode).

Reported: requests answered and failed, p50/p99 latency to the first token and to the whole
answer, tokens per second over all clients, the largest batch the server formed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import torch
from machine import machine_line  # (benchmarks/ is on sys.path)

from rnngen.checkpoint import Checkpoint, save_checkpoint
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.tokenizers import CharTokenizer

VOCAB = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def make_checkpoint(folder: Path, hidden: int) -> Path:
    tokenizer = CharTokenizer(list(VOCAB))
    config = ModelConfig(vocab_size=tokenizer.vocab_size, cell="lstm", layers=1, hidden=hidden, embed=64)
    path = folder / f"lstm{hidden}.safetensors"
    save_checkpoint(path, Checkpoint(config, tokenizer, {"step": 0}, dict(RNNLanguageModel(config).state_dict())))
    return path


async def client(session, url: str, args, stop_at: float, index: int, record: list) -> None:
    n = 0
    while time.perf_counter() < stop_at:
        body = {"model": args.model_id, "prompt": "ROMEO:", "max_tokens": args.max_tokens, "stream": True,
                "temperature": args.temperature}  # fmt: skip
        if args.seed_each:
            body["seed"] = index * 1_000_000 + n
        n += 1
        start = time.perf_counter()
        first = None
        tokens = 0
        ok = False
        try:
            async with session.post(url, json=body) as response:
                if response.status != 200:
                    record.append(("error", response.status))
                    continue
                async for line in response.content:
                    if line.startswith(b"data: [DONE]"):
                        ok = True
                    elif line.startswith(b"data: ") and json.loads(line[6:])["choices"][0]["text"]:
                        tokens += 1
                        first = first or time.perf_counter()
        except aiohttp.ClientError as exc:
            record.append(("error", repr(exc)))
            continue
        end = time.perf_counter()
        record.append(
            ("ok", first - start if first else end - start, end - start, tokens) if ok else ("error", "no [DONE]")
        )


async def run_load(base: str, args) -> tuple[list, float]:
    record: list = []
    connector = aiohttp.TCPConnector(limit=args.clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
        start = time.perf_counter()
        stop_at = start + args.seconds
        url = base + "/v1/completions"
        await asyncio.gather(*(client(session, url, args, stop_at, i, record) for i in range(args.clients)))
        return record, time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed-each", action="store_true", help="a seed per request: each runs alone")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = make_checkpoint(Path(tmp), args.hidden)
        args.model_id = ckpt.stem
        command = [sys.executable, "-m", "rnngen", "serve", str(ckpt), "--port", "0"]
        if args.threads:
            command += ["--threads", str(args.threads)]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            first = server.stdout.readline()
            base = first.split()[2].removesuffix("/v1")
            record, elapsed = asyncio.run(run_load(base, args))
            with urllib.request.urlopen(base + "/health", timeout=30) as response:
                batching = json.loads(response.read())["batching"][args.model_id]
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(60)
    done = [r for r in record if r[0] == "ok"]
    errors = [r for r in record if r[0] != "ok"]
    mode = "seed per request (each alone)" if args.seed_each else f"batched, temperature {args.temperature}"
    print(machine_line(args.threads or torch.get_num_threads()))
    print(f"model: char LSTM 1x{args.hidden}, vocab {len(VOCAB)}; mode: {mode}; {args.clients} streaming clients, "
          f"{args.seconds:g} s, max_tokens {args.max_tokens}")  # fmt: skip
    print(f"requests answered {len(done)}, failed {len(errors)} {errors[:3] if errors else ''}; server exit {code}")
    if done:
        firsts = [r[1] * 1000 for r in done]
        wholes = [r[2] * 1000 for r in done]
        tokens = sum(r[3] for r in done)
        print(f"first token ms: p50 {pct(firsts, 50):.1f}  p99 {pct(firsts, 99):.1f}")
        print(f"whole request ms: p50 {pct(wholes, 50):.1f}  p99 {pct(wholes, 99):.1f}")
        print(f"tokens/s (all clients): {tokens / elapsed:,.0f}; requests/s {len(done) / elapsed:.1f}")
    print(f"server batching: {batching}")


if __name__ == "__main__":
    main()
