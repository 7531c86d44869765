"""Interpretable units against the paper's finding, with a random model as the yardstick.

Karpathy, Johnson & Fei-Fei (2015) found LSTM cells tracking line length, quotes, brackets
and indentation. This script trains a model with rnngen's defaults for --minutes (or takes
--ckpt), runs ``rnngen units``' ranking on held-out text (the part of the corpus the
checkpoint's --val-frac kept out of training, or --text), and does the same for the
*untrained* model of the same shape: the very weights training started from (the same
seed, the same initialisation). A random network's units correlate with some features
too, so a learned unit only counts where it clearly beats the random model's best unit
for that feature:

    |r| at least MARGIN_R (0.1) above the random model's best |r|, and, for yes/no features,
    a probe accuracy above both the base rate and the random model's best probe by
    MARGIN_ACC (0.01).

    .venv/bin/python benchmarks/bench_units.py --corpus python --minutes 10
    .venv/bin/python benchmarks/bench_units.py --corpus shakespeare --minutes 10 --svg units.svg
    .venv/bin/python benchmarks/bench_units.py --ckpt CKPT --corpus python      # no training

It prints a markdown table (for benchmarks/README.md) and writes everything measured to
--json (default benchmarks/results/units-<corpus>-<date>.json). --svg draws held-out text
coloured by the best trained unit of --svg-feature (default: the feature it wins by most).
"""

from __future__ import annotations

import argparse
import html
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_line  # noqa: E402  (benchmarks/ is on sys.path)

from rnngen.checkpoint import load_checkpoint
from rnngen.corpus import load_corpus
from rnngen.data import split_text
from rnngen.model import RNNLanguageModel
from rnngen.probes import inspect_ids
from rnngen.tokenizers import display_pieces
from rnngen.unit_features import UnitScore, UnitsReport, rank_units

HERE = Path(__file__).resolve().parent
MARGIN_R = 0.1
MARGIN_ACC = 0.01


def train(corpus: str, minutes: float, out: Path, seed: int, extra: list[str]) -> Path:
    """rnngen train with its defaults for ``minutes``; the best checkpoint if it kept one."""
    seconds = max(1, round(minutes * 60))
    command = [
        sys.executable,
        "-m",
        "rnngen",
        "train",
        corpus,
        "--time",
        f"{seconds}s",
        "--out",
        str(out),
        "--seed",
        str(seed),
        *extra,
    ]
    print("$ " + " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True)
    best = out.with_name(out.stem + ".best.safetensors")
    return best if best.exists() else out


def held_out_text(ckpt, corpus: str, text_path: str | None) -> tuple[str, str]:
    if text_path:
        return load_corpus(text_path).text, text_path
    config = ckpt.train.get("config", {})
    val_frac = float(config.get("val_frac", 0.1))
    _, val = split_text(load_corpus(corpus).text, val_frac)
    return val, f"{corpus}, held-out last {val_frac:.0%}"


def untrained_like(ckpt) -> RNNLanguageModel:
    """The weights training started from: the trainer seeds torch, then builds the model."""
    seed = int(ckpt.train.get("config", {}).get("seed", 0))
    torch.manual_seed(seed)
    return RNNLanguageModel(ckpt.model_config).eval()


def verdict(trained: UnitScore | None, random: UnitScore | None, base: float | None) -> tuple[bool, str]:
    if trained is None:
        return False, "constant"
    r_gain = abs(trained.r) - (abs(random.r) if random else 0.0)
    if r_gain < MARGIN_R:
        return False, f"r gap {r_gain:+.2f} over random"
    if base is not None and trained.probe_acc is not None:
        bar = max(base, random.probe_acc if random and random.probe_acc is not None else 0.0)
        if trained.probe_acc < bar + MARGIN_ACC:
            return False, f"probe {trained.probe_acc - bar:+.3f} over base rate or random"
    return True, f"r gap {r_gain:+.2f} over random"


def comparison(trained: UnitsReport, random: UnitsReport) -> list[dict]:
    rows = []
    for f in trained.features:
        g = random.feature(f.name)
        best, rand = (f.units[0] if f.units else None), (g.units[0] if g.units else None)
        learned, why = verdict(best, rand, f.base_rate)
        rows.append(
            {
                "feature": f.name,
                "kind": f.kind,
                "base_rate": f.base_rate,
                "trained": best.to_json() | {"label": best.label} if best else None,
                "random": rand.to_json() | {"label": rand.label} if rand else None,
                "learned": learned,
                "why": why,
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    def acc(doc):
        return f"{doc['probe_acc']:.3f}" if doc and doc.get("probe_acc") is not None else "-"

    lines = [
        "| feature | best trained unit | r | probe acc | base rate | random's best r | random's probe | learned? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        t, r = row["trained"], row["random"]
        base = f"{row['base_rate']:.3f}" if row["base_rate"] is not None else "-"
        lines.append(
            f"| `{row['feature']}` | {t['label'] if t else '-'} | {t['r']:+.3f} | {acc(t)} | {base} | "
            f"{r['r']:+.3f} | {acc(r)} | {'**yes**' if row['learned'] else 'no'} ({row['why']}) |"
            if t and r
            else f"| `{row['feature']}` | - | - | - | {base} | - | - | no (constant here) |"
        )
    return "\n".join(lines)


def svg(path: Path, model, tokenizer, text: str, score: UnitScore, feature: str, chars: int = 2400) -> None:
    """Held-out text, each token's background coloured by the unit (blue < 0 < red), as an SVG."""
    ids = tokenizer.encode(text[:chars])
    record = inspect_ids(model, ids)
    values = (record.cell_state if score.state == "c" else record.hidden)[score.layer][:, score.unit]
    scale = max(float(np.abs(values).max()), 1e-6)
    pieces = display_pieces(tokenizer, ids)
    cw, lh, x0, y0 = 8.4, 17, 10, 30
    out = [
        f'<text x="{x0}" y="18" font-size="13" font-family="monospace">{html.escape(score.label)} '
        f"(r {score.r:+.3f} with {html.escape(feature)}; red positive, blue negative)</text>"
    ]
    x, y, width = x0, y0, 0
    for piece, v in zip(pieces, values):
        a = min(1.0, abs(float(v)) / scale)
        color = f'fill="{"#dc2828" if v > 0 else "#285adc"}" fill-opacity="{a:.2f}"'
        for ch in piece:
            if ch == "\n":
                out.append(f'<rect x="{x:.1f}" y="{y - 13}" width="{cw:.1f}" height="{lh}" {color}/>')
                x, y = x0, y + lh
                continue
            out.append(f'<rect x="{x:.1f}" y="{y - 13}" width="{cw:.1f}" height="{lh}" {color}/>')
            if not ch.isspace():
                out.append(f'<text x="{x:.1f}" y="{y}" font-size="14" font-family="monospace">{html.escape(ch)}</text>')
            x += cw
            width = max(width, x)
    height = y + lh
    body = "\n".join(out)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + x0:.0f}" height="{height}">'
        f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n',
        encoding="utf-8",
    )


def _corpus_label(corpus: str) -> str:
    """A file-name-safe label: a built-in name as is, a path by its stem."""
    return Path(corpus).stem if ("/" in corpus or "." in corpus) else corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="python", help="corpus to train on and take held-out text from")
    parser.add_argument("--minutes", type=float, default=10.0, help="training time with rnngen's defaults")
    parser.add_argument("--ckpt", type=Path, default=None, help="use this checkpoint instead of training")
    parser.add_argument("--text", default=None, help="rank on this text instead of the corpus's held-out part")
    parser.add_argument("--train-args", default="", help="extra rnngen train options, e.g. '--model gru'")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1, help="threads for the ranking (training uses its own)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="folder for the trained checkpoint")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--svg", type=Path, default=None)
    parser.add_argument("--svg-feature", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    stamp = time.strftime("%Y-%m-%d")
    path = args.ckpt
    if path is None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = train(
            args.corpus,
            args.minutes,
            args.out / f"units-{_corpus_label(args.corpus)}-{stamp}.safetensors",
            args.seed,
            args.train_args.split(),
        )
    ckpt = load_checkpoint(path, with_training_state=False)
    text, source = held_out_text(ckpt, args.corpus, args.text)
    trained_model = ckpt.build_model().eval()
    started = time.perf_counter()
    trained = rank_units(trained_model, ckpt.tokenizer, text, max_tokens=args.max_tokens)
    seconds = time.perf_counter() - started
    random = rank_units(untrained_like(ckpt), ckpt.tokenizer, text, max_tokens=args.max_tokens)
    rows = comparison(trained, random)

    t = ckpt.train
    print(f"\n{machine_line()}")
    print(
        f"checkpoint {path}: {ckpt.model_config.label}, {ckpt.tokenizer.level} level, {t.get('step')} steps, "
        f"best val {t.get('best_val_loss')}"
    )
    print(
        f"text: {source}, {trained.tokens:,} tokens; ranking took {seconds:.1f} s per model; "
        f"left out (trained / random): {len(trained.inactive)} / {len(random.inactive)} units\n"
    )
    print(markdown(rows))

    doc = {
        "date": stamp,
        "machine": machine_line(),
        "checkpoint": str(path),
        "model": ckpt.model_config.to_json(),
        "level": ckpt.tokenizer.level,
        "steps": t.get("step"),
        "best_val_loss": t.get("best_val_loss"),
        "text": source,
        "seconds_per_ranking": round(seconds, 2),
        "margins": {"r": MARGIN_R, "acc": MARGIN_ACC},
        "rows": rows,
        "trained": trained.to_json(),
        "random": random.to_json(),
    }
    out_json = args.json or HERE / "results" / f"units-{_corpus_label(args.corpus)}-{stamp}.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {out_json}")

    if args.svg:
        name = (
            args.svg_feature
            or max(
                (r for r in rows if r["trained"] and r["random"]),
                key=lambda r: abs(r["trained"]["r"]) - abs(r["random"]["r"]),
            )["feature"]
        )
        best = trained.feature(name).units[0]
        svg(args.svg, trained_model, ckpt.tokenizer, text, best, name)
        print(f"wrote {args.svg} ({best.label}, {name})")


if __name__ == "__main__":
    main()
