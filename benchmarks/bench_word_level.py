"""Word level against its anchor (issue 5, target 5): rnngen --level word vs pytorch/examples'
word_language_model, same words, same split, same wall-clock budget.

    .venv/bin/python benchmarks/bench_word_level.py --wlm-dir PATH [--quick] [--budget 600]
        [--corpus PATH] [--extra "..."] [--keep DIR]

PATH is a checkout of pytorch/examples' ``word_language_model`` folder (main.py, data.py,
model.py); get one with ``git clone https://github.com/pytorch/examples`` (it is not
part of rnngen and is never copied into it). Nothing of it is modified: it runs as
``python PATH/main.py --data DATA --save MODEL --epochs 1000`` with its defaults (2x200
LSTM, emsize 200, SGD lr 20 annealed /4, clip 0.25, batch 20, bptt 35, dropout 0.2).

Data. WikiText-2 is not available offline, so tiny-shakespeare is converted to
word_language_model's format. Every line is pre-tokenised with rnngen's own
WORD_PATTERN (words with inner apostrophes, single punctuation marks) and written as
space-separated tokens, so both tokenizers see exactly the same tokens: its
``line.split() + ['<eos>']`` and rnngen's WORD_PATTERN (which gives the same tokens and
"\\n" where the other has <eos>). The split is nanoGPT's 90/10 moved to the next line
break: train.txt = the first 90% of lines, valid.txt = the rest; test.txt = the last 200
lines of valid.txt (word_language_model needs one; its figure is not used). Both
vocabularies are every token of train + valid (word_language_model builds its
dictionary over all three files, rnngen over its whole corpus); rnngen's has one
extra, unused <unk>. So perplexities are over the same vocabulary and token stream.

Selection. word_language_model evaluates valid.txt after every epoch, keeps the best
and anneals its learning rate on it. rnngen gets the same view: its corpus is
train.txt + valid.txt with --val-frac chosen so that its held-out part is valid.txt
(its evaluations pick model.best.safetensors). Final figures: word_language_model's
best "valid ppl" line; rnngen: ``rnngen eval model.best.safetensors valid.txt --json``.

Budget. word_language_model can only stop at the end of an epoch usefully (that is
when it evaluates and saves), so it runs epochs while the next one is expected to fit
in --budget seconds (at least one), then gets Ctrl-C (SIGINT: it loads its best model
and finishes). rnngen then trains with ``--time`` equal to the time word_language_model
actually spent in its completed epochs (training + validation, from its own "time:"
lines), so rnngen never gets more training time. Both use torch's default threads.

Bits per character: mean loss x tokens in valid.txt / characters of the original
(un-tokenised) validation text / ln 2, the same formula for both.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from rnngen.tokenizers import WORD_PATTERN
from machine import machine_line  # noqa: E402  (benchmarks/ is on sys.path)

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
RNNGEN = [str(Path(sys.executable).with_name("rnngen"))]
if not Path(RNNGEN[0]).exists():
    RNNGEN = [sys.executable, "-m", "rnngen"]
EPOCH_LINE = re.compile(r"end of epoch\s+(\d+)\s*\|\s*time:\s*([\d.]+)s\s*\|\s*valid loss\s*([\d.]+)\s*\|"
                        r"\s*valid ppl\s*([\d.]+)")


def prepare(text: str, work: Path) -> dict:
    """Write data/{train,valid,test}.txt (pre-tokenised) and corpus.txt (train + valid)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    tok = [" ".join(WORD_PATTERN.findall(line)) for line in lines]
    cut_chars = int(0.9 * len(text))
    pos, cut_line = 0, len(lines)
    for i, line in enumerate(lines):
        if pos >= cut_chars:
            cut_line = i
            break
        pos += len(line) + 1
    train, valid = tok[:cut_line], tok[cut_line:]
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    train_text = "".join(t + "\n" for t in train)
    valid_text = "".join(t + "\n" for t in valid)
    (data / "train.txt").write_text(train_text, encoding="utf-8")
    (data / "valid.txt").write_text(valid_text, encoding="utf-8")
    (data / "test.txt").write_text("".join(t + "\n" for t in valid[-200:]), encoding="utf-8")
    corpus = train_text + valid_text
    (work / "corpus.txt").write_text(corpus, encoding="utf-8")
    # rnngen's split_point: int(len * (1 - f)) moved forward to whitespace. Aim at the last
    # "\n" of train (index len(train_text) - 1): held out = "\n" + valid (one extra newline).
    target = len(train_text) - 1
    val_frac = 1.0 - (target + 0.5) / len(corpus)
    from rnngen.data import split_point

    got = split_point(corpus, val_frac)
    assert got == target, (got, target)
    valid_tokens = sum(len(t.split()) + 1 for t in valid)  # words + one <eos>/"\n" per line
    valid_orig_chars = sum(len(line) + 1 for line in lines[cut_line:])
    vocab = {w for t in train + valid for w in t.split()}
    return {
        "train_lines": len(train), "valid_lines": len(valid),
        "train_tokens": sum(len(t.split()) + 1 for t in train), "valid_tokens": valid_tokens,
        "valid_orig_chars": valid_orig_chars, "vocab": len(vocab) + 1, "val_frac": val_frac,
    }


def wait_for_save(path: Path, since: float, timeout: float = 120.0) -> None:
    """Wait until word_language_model has (re)written its best model: a Ctrl-C during
    ``torch.save`` would leave a broken file."""
    end = time.time() + timeout
    last = -1
    while time.time() < end:
        try:
            st = path.stat()
        except FileNotFoundError:
            st = None
        if st is not None and st.st_mtime >= since and st.st_size == last and st.st_size > 0:
            return
        last = st.st_size if st is not None else -1
        time.sleep(0.5)


def run_wlm(wlm_dir: Path, work: Path, budget: float, extra: list[str]) -> dict:
    cmd = [sys.executable, "-u", str(wlm_dir / "main.py"), "--data", str(work / "data"),
           "--save", str(work / "wlm-model.pt"), "--epochs", "1000"] + extra
    print("$ python word_language_model/main.py " + " ".join(shlex.quote(c) for c in cmd[4:]), flush=True)
    t0 = time.perf_counter()
    # SIGINT back to its default: a benchmark started in the background inherits it
    # ignored, and word_language_model would then never see the Ctrl-C that stops it.
    proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    epochs: list[tuple[int, float, float]] = []  # (epoch, seconds, valid ppl)
    log = []
    interrupted = False
    for line in proc.stdout:
        log.append(line)
        m = EPOCH_LINE.search(line)
        if not m:
            continue
        epochs.append((int(m.group(1)), float(m.group(2)), float(m.group(4))))
        spent = sum(e[1] for e in epochs)
        per_epoch = spent / len(epochs)
        print(f"    wlm epoch {m.group(1)}: {float(m.group(2)):.1f} s, valid ppl {m.group(4)}", flush=True)
        if spent + per_epoch > budget and not interrupted:
            if epochs[-1][2] == min(e[2] for e in epochs):
                wait_for_save(work / "wlm-model.pt", since=time.time() - 1.0)  # it saves after this line
            proc.send_signal(signal.SIGINT)  # it catches KeyboardInterrupt, loads its best model, tests
            interrupted = True
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc != 0 or not epochs:
        sys.exit("word_language_model failed:\n" + "".join(log[-30:]))
    best = min(epochs, key=lambda e: e[2])
    return {"epochs": len(epochs), "epoch_s": sum(e[1] for e in epochs), "wall_s": wall,
            "ppl": best[2], "loss": math.log(best[2]), "best_epoch": best[0], "history": epochs}


def run_rnngen(work: Path, time_s: float, val_frac: float, extra: list[str]) -> dict:
    def run(cmd):
        print("$ rnngen " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        t0 = time.perf_counter()
        done = subprocess.run(RNNGEN + cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit(f"rnngen {cmd[0]} failed: {done.stderr.strip()[-2000:]}")
        return done, time.perf_counter() - t0

    _, wall = run(["train", "corpus.txt", "--level", "word", "--time", f"{time_s:.1f}s",
                   "--val-frac", repr(val_frac), "--out", "rnngen.safetensors"] + extra)
    done, _ = run(["eval", "rnngen.best.safetensors", "data/valid.txt", "--json"])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    from rnngen.checkpoint import load_checkpoint

    ckpt = load_checkpoint(work / "rnngen.safetensors")
    cfg = ckpt.train.get("config", {})
    return {"wall_s": wall, "loss": result["loss"], "ppl": result["perplexity"], "tokens": result["tokens"],
            "steps": ckpt.train.get("step"), "elapsed_s": ckpt.train.get("elapsed_s"),
            "vocab": ckpt.tokenizer.vocab_size,
            "model": f"{cfg.get('cell')} {cfg.get('layers')}x{cfg.get('hidden')}, embed {cfg.get('embed')}, "
                     f"dropout {cfg.get('dropout')}, batch {cfg.get('batch_size')} x seq {cfg.get('seq_len')}, "
                     f"precision {cfg.get('precision')}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wlm-dir", type=Path, default=None,
                    help="checkout of pytorch/examples/word_language_model (holds main.py)")
    ap.add_argument("--quick", action="store_true",
                    help="first 8%% of the corpus and a 15 s budget (< 1 minute of training)")
    ap.add_argument("--budget", type=float, default=None, help="seconds (default 600; quick 15)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--fraction", type=float, default=None,
                    help="use the first FRACTION of the corpus, cut at a line break (default 1; quick 0.08)")
    ap.add_argument("--extra", default="", help="extra arguments for rnngen train, one string")
    ap.add_argument("--wlm-extra", default="", help="extra arguments for word_language_model main.py")
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = ap.parse_args()
    if args.wlm_dir is None or not (args.wlm_dir / "main.py").is_file() or not (args.wlm_dir / "data.py").is_file():
        sys.exit("need --wlm-dir PATH: a checkout of pytorch/examples' word_language_model folder "
                 "(main.py, data.py, model.py), e.g. git clone https://github.com/pytorch/examples "
                 "&& --wlm-dir examples/word_language_model")
    if not args.corpus.exists():
        sys.exit(f"corpus not found: {args.corpus} (give --corpus PATH to tinyshakespeare.txt)")
    budget = args.budget or (15.0 if args.quick else 600.0)
    text = args.corpus.read_text(encoding="utf-8")
    fraction = args.fraction or (0.08 if args.quick else 1.0)
    if fraction < 1.0:
        text = text[: int(fraction * len(text))]
        text = text[: text.rfind("\n") + 1]

    work = args.keep or Path(tempfile.mkdtemp(prefix="rnngen-bench-word-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        info = prepare(text, work)
        print(machine_line())
        print(f"corpus: {args.corpus.name}{f' (first {fraction:.0%})' if fraction < 1 else ''}, pre-tokenised with WORD_PATTERN; "
              f"train {info['train_lines']:,} lines / {info['train_tokens']:,} tokens, "
              f"valid {info['valid_lines']:,} lines / {info['valid_tokens']:,} tokens "
              f"({info['valid_orig_chars']:,} original chars); vocabulary {info['vocab']:,} (incl. <eos>)")
        print(f"budget: {budget:.0f} s for word_language_model's epochs; rnngen gets the time they took")
        wlm = run_wlm(args.wlm_dir, work, budget, shlex.split(args.wlm_extra))
        print(f"    load average now {os.getloadavg()[0]:.2f}", flush=True)
        rg = run_rnngen(work, wlm["epoch_s"], info["val_frac"], shlex.split(args.extra))

        ln2 = math.log(2)
        bpc = lambda loss: loss * info["valid_tokens"] / info["valid_orig_chars"] / ln2
        print()
        print(f"{'':<26} {'word_language_model':>22} {'rnngen --level word':>22}")
        print(f"{'model':<26} {'LSTM 2x200, emsize 200':>22} {rg['model']}")
        print(f"{'vocabulary':<26} {info['vocab']:>22,} {rg['vocab']:>22,}")
        print(f"{'training time budget':<26} {wlm['epoch_s']:>20.1f} s {rg['elapsed_s']:>20.1f} s")
        print(f"{'whole-process wall time':<26} {wlm['wall_s']:>20.1f} s {rg['wall_s']:>20.1f} s")
        print(f"{'work done':<26} {str(wlm['epochs']) + ' epochs':>22} {str(rg['steps']) + ' steps':>22}")
        print(f"{'valid loss (nats/token)':<26} {wlm['loss']:>22.4f} {rg['loss']:>22.4f}")
        print(f"{'valid perplexity':<26} {wlm['ppl']:>22.2f} {rg['ppl']:>22.2f}")
        print(f"{'valid bits per char':<26} {bpc(wlm['loss']):>22.4f} {bpc(rg['loss']):>22.4f}")
        better = "rnngen" if rg["loss"] < wlm["loss"] else "word_language_model"
        print(f"\nlower validation loss: {better} (target, issue 5: rnngen lower). "
              f"word_language_model's best epoch: {wlm['best_epoch']}.")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
