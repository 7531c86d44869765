"""The best model in the time given (issue 11): rnngen's defaults against a grid of plain loops.

    python benchmarks/bench_frontier.py grid   [--budgets 60,150] [--mode native|avx2] [--batches 16,64]
    python benchmarks/bench_frontier.py top    [--budget 600] [--from-budget 150] [--n 3] [--mode ...]
    python benchmarks/bench_frontier.py rnngen [--budgets 60,150,600] [--mode ...] [--extra "..."]
    python benchmarks/bench_frontier.py report

Data: tiny-shakespeare cut as nanoGPT's prepare.py does (train.txt = the first 90%,
val.txt = the rest), written to a temporary folder.

``grid`` trains the reference (benchmarks/plain_loop.py: Embedding -> nn.LSTM -> Linear,
Adam at a constant rate, clipping, carried state, no dropout, fp32) for every shape in
{1x256, 1x384, 1x512, 2x256} x batch {16, 64} x learning rate {3e-3, 6e-3}, window 64,
for each budget. Cells already in the results file are skipped, so an interrupted grid
goes on where it stopped. ``top`` runs the best configurations of one budget at another.

``rnngen`` runs ``rnngen train train.txt --val-file val.txt --time B`` with default
settings, evaluates the best checkpoint on val.txt with ``rnngen eval``, and right after
it re-runs the best reference configuration of that budget, so that machine drift shows
up in the reference's figure rather than in the comparison.

Modes: ``native`` is the machine as it is; ``avx2`` emulates an AVX2-only laptop
(ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2, and
``--precision fp32`` for rnngen). Every record holds the CPU model, torch version, mode
and threads; results go to benchmarks/results/frontier.jsonl (one JSON object a line).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "frontier.jsonl"
DEFAULT_CORPUS = HERE.parents[1] / "shared" / "data" / "tinyshakespeare.txt"
SHAPES = ((1, 256), (1, 384), (1, 512), (2, 256))
LRS = (3e-3, 6e-3)
AVX2_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
RNNGEN = str(Path(sys.executable).with_name("rnngen"))


def environment(mode: str) -> dict:
    env = dict(os.environ)
    if mode == "avx2":
        env.update(AVX2_ENV)
    return env


def split_corpus(corpus: Path, folder: Path) -> tuple[Path, Path]:
    text = corpus.read_text(encoding="utf-8")
    cut = int(0.9 * len(text))
    train, val = folder / "train.txt", folder / "val.txt"
    train.write_text(text[:cut], encoding="utf-8")
    val.write_text(text[cut:], encoding="utf-8")
    return train, val


def read_results() -> list[dict]:
    if not RESULTS.exists():
        return []
    return [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]


def record(entry: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    entry = {"cpu": cpu_model(), "torch": torch_version(), "date": time.strftime("%Y-%m-%d %H:%M"), **entry}
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(entry) + "\n")
    print(json.dumps(entry), flush=True)


def torch_version() -> str:
    import torch

    return torch.__version__


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def run_reference(cfg: dict, budget: float, mode: str, train: Path, val: Path, threads: int, tag: str) -> dict:
    cmd = [sys.executable, str(HERE / "plain_loop.py"), "--train", str(train), "--val", str(val),
           "--layers", str(cfg["layers"]), "--hidden", str(cfg["hidden"]), "--batch", str(cfg["batch"]),
           "--lr", str(cfg["lr"]), "--time", str(budget), "--threads", str(threads)]
    load = load_average()
    done = subprocess.run(cmd, env=environment(mode), capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    entry = {"kind": tag, "mode": mode, "threads": threads, "budget_s": budget, **cfg, **result, "load_before": load}
    record(entry)
    return entry


def key(entry: dict) -> tuple:
    return (entry["mode"], entry["threads"], entry["budget_s"], entry["layers"], entry["hidden"],
            entry["batch"], entry["lr"])


def best_reference(results: list[dict], budget: float, mode: str, threads: int, n: int = 1) -> list[dict]:
    """The best configurations of the grid (best learning rate per shape and batch), best first."""
    best: dict[tuple, dict] = {}
    for e in results:
        if e["kind"] not in ("grid", "top") or (e["mode"], e["threads"], e["budget_s"]) != (mode, threads, budget):
            continue
        k = (e["layers"], e["hidden"], e["batch"])
        if k not in best or e["val_loss"] < best[k]["val_loss"]:
            best[k] = e
    return sorted(best.values(), key=lambda e: e["val_loss"])[:n]


def cmd_grid(args, train: Path, val: Path) -> None:
    done = {key(e) for e in read_results() if e["kind"] in ("grid", "top")}
    for budget in args.budgets:
        for batch in args.batches:
            for layers, hidden in args.shapes:
                for lr in LRS:
                    cfg = {"layers": layers, "hidden": hidden, "batch": batch, "lr": lr}
                    if (args.mode, args.threads, budget, layers, hidden, batch, lr) in done:
                        continue
                    run_reference(cfg, budget, args.mode, train, val, args.threads, "grid")


def cmd_top(args, train: Path, val: Path) -> None:
    results = read_results()
    done = {key(e) for e in results if e["kind"] in ("grid", "top")}
    for e in best_reference(results, args.from_budget, args.mode, args.threads, args.n):
        cfg = {name: e[name] for name in ("layers", "hidden", "batch", "lr")}
        if (args.mode, args.threads, args.budget, *cfg.values()) not in done:
            run_reference(cfg, args.budget, args.mode, train, val, args.threads, "top")


def run_rnngen(budget: float, mode: str, threads: int, extra: str, train: Path, val: Path, work: Path) -> dict:
    out = work / f"rnngen-{int(budget)}-{mode}-{time.time_ns()}.safetensors"
    cmd = [RNNGEN, "train", str(train), "--val-file", str(val), "--time", f"{budget:g}s", "--out", str(out),
           "--threads", str(threads)]
    if mode == "avx2":
        cmd += ["--precision", "fp32"]
    cmd += shlex.split(extra)
    load = load_average()
    t0 = time.perf_counter()
    trained = subprocess.run(cmd, env=environment(mode), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if trained.returncode != 0:
        sys.exit(f"rnngen train failed: {trained.stderr[-2000:]}")
    best = out.with_name(out.name.replace(".safetensors", ".best.safetensors"))
    evaluated = subprocess.run([RNNGEN, "eval", str(best), str(val), "--json"], env=environment(mode),
                               capture_output=True, text=True, check=True)
    result = json.loads(evaluated.stdout.strip().splitlines()[-1])
    info = json.loads(subprocess.run([RNNGEN, "info", str(out), "--json"], capture_output=True, text=True,
                                     check=True).stdout)
    cfg = info.get("train_config") or {}
    plan = info.get("plan") or {}
    entry = {
        "kind": "rnngen", "mode": mode, "threads": threads, "budget_s": budget, "extra": extra,
        "layers": cfg.get("layers"), "hidden": cfg.get("hidden"), "batch": cfg.get("batch_size"),
        "seq": cfg.get("seq_len"), "lr": cfg.get("lr"), "dropout": cfg.get("dropout"),
        "steps": info.get("step"), "tokens": info.get("tokens_seen"), "elapsed_s": info.get("elapsed_s"),
        "wall_s": round(wall, 1), "val_loss": round(result["loss"], 4), "plan": plan.get("summary"),
        "measured": plan.get("measured"), "plan_s": plan.get("seconds"), "load_before": load,
    }
    record(entry)
    return entry


def cmd_rnngen(args, train: Path, val: Path, work: Path) -> None:
    for budget in args.budgets:
        ours = run_rnngen(budget, args.mode, args.threads, args.extra, train, val, work)
        refs = best_reference(read_results(), budget, args.mode, args.threads)
        if refs and not args.no_drift:
            cfg = {name: refs[0][name] for name in ("layers", "hidden", "batch", "lr")}
            again = run_reference(cfg, budget, args.mode, train, val, args.threads, "drift")
            print(f"budget {budget:g}s {args.mode}: rnngen {ours['val_loss']:.4f}; best reference "
                  f"{refs[0]['val_loss']:.4f} in the grid, {again['val_loss']:.4f} re-run now "
                  f"({cfg['layers']}x{cfg['hidden']} b{cfg['batch']} lr {cfg['lr']:g}); "
                  f"margin {min(refs[0]['val_loss'], again['val_loss']) - ours['val_loss']:+.4f}", flush=True)


def cmd_report(_args) -> None:
    results = read_results()
    groups = sorted({(e["mode"], e["threads"], e["budget_s"]) for e in results})
    for mode, threads, budget in groups:
        print(f"\n== budget {budget:g} s, mode {mode}, {threads} threads ==")
        rows = [e for e in results if (e["mode"], e["threads"], e["budget_s"]) == (mode, threads, budget)]
        for e in sorted(rows, key=lambda e: e["val_loss"]):
            shape = f"{e['layers']}x{e['hidden']} b{e['batch']} lr {e['lr'] or 0:g}" + (
                f" d{e['dropout']:g}" if e.get("dropout") else "")
            print(f"  {e['kind']:<7} {shape:<24} steps {e['steps']:>6}  tok/s {e.get('tokens_per_s', '-')!s:>6}  "
                  f"val {e['val_loss']:.4f}  ({e['date']}, load {e.get('load_before')})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("grid", "top", "rnngen", "report"))
    ap.add_argument("--budgets", default="60,150", help="seconds, comma-separated (grid, rnngen)")
    ap.add_argument("--budget", type=float, default=600.0, help="top: the budget to run")
    ap.add_argument("--from-budget", type=float, default=150.0, help="top: the budget whose best configs run")
    ap.add_argument("--n", type=int, default=3, help="top: how many configurations")
    ap.add_argument("--batches", default="16,64")
    ap.add_argument("--shapes", default=",".join(f"{l}x{h}" for l, h in SHAPES), help="grid: e.g. 1x384,2x256")
    ap.add_argument("--mode", choices=("native", "avx2"), default="native")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--extra", default="", help="rnngen: extra training options, one string")
    ap.add_argument("--no-drift", action="store_true", help="rnngen: skip re-running the best reference")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args()
    args.budgets = [float(b) for b in args.budgets.split(",")]
    args.batches = [int(b) for b in args.batches.split(",")]
    args.shapes = [tuple(int(n) for n in shape.split("x")) for shape in args.shapes.split(",")]
    if args.command == "report":
        cmd_report(args)
        return
    print(f"cpu: {cpu_model()}; mode {args.mode}; threads {args.threads}", flush=True)
    with tempfile.TemporaryDirectory(prefix="rnngen-frontier-") as tmp:
        train, val = split_corpus(args.corpus, Path(tmp))
        if args.command == "grid":
            cmd_grid(args, train, val)
        elif args.command == "top":
            cmd_top(args, train, val)
        else:
            cmd_rnngen(args, train, val, Path(tmp))


if __name__ == "__main__":
    main()
