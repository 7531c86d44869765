"""The README.md model card of an exported model folder (Hugging Face's convention).

What it is, where its text came from (as far as the checkpoint records it), its size, how
it was trained, how well it predicts held-out text, a sample, and what it is for. Every
text that comes from the checkpoint (file names, settings, the sample) may be a stranger's,
so it is written as plain text: inside code spans and fenced blocks whose fences are longer
than any run of backticks in it, with control, bidirectional and line-separator characters
shown as ``\\uXXXX``. Markdown and HTML in it are shown, never rendered; the YAML front
matter holds only values rnngen chose (validated cell and level names).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import TypeGuard

from rnngen.checkpoint import Checkpoint
from rnngen.resume_state import malformed_fields, valid_history
from rnngen.units import format_duration

MAX_INLINE = 160  # characters of one value shown in a code span
# The training settings shown, in this order (a stranger's metadata may hold others: left out).
SETTINGS = (
    "level", "vocab_size", "cell", "layers", "hidden", "embed", "dropout", "tie", "seq_len", "batch_size",
    "optimizer", "lr", "schedule", "min_lr_frac", "warmup_steps", "weight_decay", "clip", "steps", "epochs", "time_s",
    "val_frac", "eval_every", "eval_tokens", "seed", "precision", "patience",
)  # fmt: skip
LEVEL_WORDS = {"char": "character", "word": "word", "bpe": "byte-level BPE token"}


@dataclass(frozen=True)
class CardSample:
    """The sample shown in the card and the command that repeats it."""

    text: str
    temperature: float
    seed: int
    length: int


def plain(text: str) -> str:
    """``text`` with every character that is not printable (newline, tab, controls,
    bidirectional overrides, line separators) written as ``\\uXXXX``."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def code_span(text: str) -> str:
    """``text`` as one Markdown code span, whatever backticks it holds."""
    text = plain(text)
    if len(text) > MAX_INLINE:
        text = text[: MAX_INLINE - 3] + "..."
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    if not text:
        return "` `"  # CommonMark has no empty code span
    # A parser strips one space from each end when both ends have one: pad so it strips ours.
    both_spaces = text[0] == " " and text[-1] == " " and text.strip()
    pad = " " if text[0] == "`" or text[-1] == "`" or both_spaces else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: str, info: str = "text") -> str:
    """``text`` (lines kept) as a fenced block that no line of it can close."""
    lines = [plain(line.replace("\t", "    ")) for line in text.split("\n")]
    body = "\n".join(lines)
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def _number(value: object, spec: str = ".4f") -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return format(value, spec)
    return "-"


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _setting(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return plain(value)[:MAX_INLINE]
    return "(malformed)"


def best_evaluation(train: dict) -> dict | None:
    """The history row with the lowest validation loss (what the checkpoint's best is)."""
    rows = [r for r in valid_history(train) if _finite(r.get("val_loss"))]
    return min(rows, key=lambda r: r["val_loss"]) if rows else None


def _finite(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def bits_per_char(row: dict, level: str) -> float | None:
    """The row's validation bits per character: recorded by training; at char level a
    token is a character, so nats/token / ln 2 when a row lacks it."""
    if _finite(row.get("val_bpc")):
        return float(row["val_bpc"])
    if level == "char" and _finite(row.get("val_loss")):
        return float(row["val_loss"]) / math.log(2)
    return None


def model_card(ckpt: Checkpoint, *, source: str, folder_name: str, parameters: int, sample: CardSample) -> str:
    """The model card's Markdown (front matter included)."""
    config, tokenizer, train = ckpt.model_config, ckpt.tokenizer, ckpt.train
    level = tokenizer.level
    unit = LEVEL_WORDS.get(level, level)
    out = [
        "---",
        "library_name: rnngen",
        "pipeline_tag: text-generation",
        "tags:",
        "- rnngen",
        f"- {config.cell}",
        f"- {level}-level",
        "- text-generation",
        "license: other  # the licence of the training text applies; see Licence below",
        "---",
        "",
        f"# {config.label}, {level} level (rnngen)",
        "",
        f"A small recurrent language model ({config.cell.upper()}, {config.layers} layer"
        f"{'s' if config.layers != 1 else ''} of {config.hidden} units) that predicts the next {unit} of a text, "
        "trained with rnngen. It writes text in the style of what it was trained on.",
        "",
        f"Exported from the checkpoint {code_span(source)} by `rnngen export --format hf`.",
        "",
        "## Use",
        "",
        "```sh",
        "pip install rnngen" + ("  # and 'rnngen[bpe]' for BPE models" if level == "bpe" else ""),
        f"rnngen sample {_shell_word(folder_name)} --length 300 --temp 0.8",
        f"rnngen info {_shell_word(folder_name)}",
        "```",
        "",
        "```python",
        "import rnngen",
        f"model = rnngen.load({folder_name!r})",
        "print(model.sample(length=300, temp=0.8, seed=1))",
        "```",
        "",
        "Files: `model.safetensors` (the weights; `safetensors.torch.load_file` reads them, and its metadata holds "
        "rnngen's own description of the model), `config.json` (the architecture), "
        f"`{'tokenizer.json' if level == 'bpe' else 'vocab.json'}` ("
        + (
            "the tokenizer, as `tokenizers.Tokenizer.from_file` reads it"
            if level == "bpe"
            else "the vocabulary, token to id"
        )
        + ").",
        "",
        *_training_data(train, source),
        *_size(ckpt, parameters),
        *_training(train),
        *_evaluation(train, level),
        "## Sample",
        "",
        "Generated at export with "
        + code_span(
            f"rnngen sample {_shell_word(folder_name)} --temp {sample.temperature} --seed {sample.seed} "
            f"--length {sample.length}"
        )
        + " (that command repeats it exactly):",
        "",
        code_block(sample.text),
        "",
        "## Intended use and limits",
        "",
        "- For learning how recurrent networks model text, for experiments, and for playful or artistic "
        "generation in the style of the training text.",
        "- It has no knowledge of facts and no notion of truth: what it writes only resembles its training text. "
        "Do not use it where accuracy or safety matters.",
        "- A small model trained on one text repeats that text's phrases and can copy stretches of it verbatim "
        "(`rnngen novelty` measures how much); it also repeats the text's biases and offensive content, if any. "
        "Nothing filters its output.",
        f"- It reads text one {unit} at a time with a fixed-size memory, so it keeps track of local structure "
        "far better than of anything said many lines earlier.",
        "",
        "## Licence",
        "",
        "The weights are derived from the training text, so the licence and terms of that text apply to this "
        "model and to what it generates. rnngen does not record them: check them before you share the model. "
        "rnngen's own MIT licence covers rnngen's code, not this model.",
        "",
    ]
    return "\n".join(out)


def _shell_word(text: str) -> str:
    """A folder name as one shell word in a code block (quoted unless plainly safe)."""
    if re.fullmatch(r"[A-Za-z0-9_./-]+", text):
        return text
    return "'" + plain(text).replace("'", "'\\''") + "'"


def _training_data(train: dict, source: str) -> list[str]:
    lines = ["## Training data", ""]
    recorded = train.get("corpus")
    corpus: dict = recorded if isinstance(recorded, dict) else {}
    sources = corpus.get("sources")
    if isinstance(sources, list) and sources and all(isinstance(s, str) for s in sources):
        # File names only: the absolute paths of the training machine are nobody's business.
        names = ", ".join(code_span(PurePath(s).name) for s in sources[:10])
        more = f" and {len(sources) - 10} more" if len(sources) > 10 else ""
        chars, digest = _count(corpus.get("chars")), corpus.get("sha256")
        lines.append(
            f"Corpus: {names}{more}"
            + (f", {chars:,} characters" if chars is not None else "")
            + (f" (SHA-256 of the text {code_span(digest)})" if isinstance(digest, str) else "")
            + ". The checkpoint records the files it read, not where they were obtained."
        )
    else:
        lines.append(
            "The checkpoint does not record the corpus's name or where it came from; "
            f"the checkpoint's file name ({code_span(source)}) may say."
        )
    train_tokens, val_tokens = _count(train.get("train_tokens")), _count(train.get("val_tokens"))
    if train_tokens is not None:
        held = f", and {val_tokens:,} held out for validation" if val_tokens is not None else ""
        lines.append(f"Training text: {train_tokens:,} tokens{held}.")
    parent = train.get("parent")
    if isinstance(parent, dict):
        path, digest = parent.get("path"), parent.get("sha256")
        lines.append(
            f"Fine-tuned from {code_span(str(path))}"
            + (f" (SHA-256 {code_span(digest)})" if isinstance(digest, str) else "")
            + ", itself trained on other text."
        )
    return [*lines, ""]


def _size(ckpt: Checkpoint, parameters: int) -> list[str]:
    c = ckpt.model_config
    return [
        "## Size",
        "",
        f"- {parameters:,} parameters ({parameters * 4 / 1e6:.2f} MB as float32)",
        f"- cell {c.cell}, {c.layers} layer(s), hidden size {c.hidden}, embedding size {c.embed}, "
        f"dropout {c.dropout}, {'tied' if c.tie else 'untied'} input and output embeddings",
        f"- vocabulary: {ckpt.tokenizer.vocab_size:,} {ckpt.tokenizer.level}-level tokens",
        "",
    ]


def _training(train: dict) -> list[str]:
    lines = ["## Training", ""]
    step, tokens = _count(train.get("step")), _count(train.get("tokens_seen"))
    elapsed = train.get("elapsed_s")
    seconds = float(elapsed) if _finite(elapsed) else None
    lines.append(
        f"{step if step is not None else '?'} steps, {f'{tokens:,}' if tokens is not None else '?'} tokens seen, "
        f"{format_duration(seconds)} of training."
    )
    bad = malformed_fields(train)
    if bad:
        lines.append(f"(Malformed training metadata, left out: {', '.join(code_span(b) for b in bad)}.)")
    config = train.get("config")
    if isinstance(config, dict):
        shown = [f"{name}: {_setting(config[name])}" for name in SETTINGS if name in config]
        lines += ["", "Settings (as the run used them; - for none):", "", code_block("\n".join(shown), "yaml")]
    plan = train.get("plan")
    if isinstance(plan, dict) and isinstance(plan.get("summary"), str) and plan["summary"]:
        lines += ["", f"Plan: {code_span(plan['summary'])}"]
    return [*lines, ""]


def _evaluation(train: dict, level: str) -> list[str]:
    lines = ["## Evaluation", ""]
    best = best_evaluation(train)
    if best is None:
        return [*lines, "The checkpoint records no validation loss (it was trained without held-out text).", ""]
    loss = float(best["val_loss"])
    bpc = bits_per_char(best, level)
    lines.append(
        f"On held-out text (the part of the corpus training never saw), best at step {best['step']}: "
        f"validation loss **{loss:.4f}** nats/token, perplexity **{math.exp(min(loss, 700)):.3f}**, "
        f"**{_number(bpc)}** bits per character."
    )
    lines += [
        "",
        "Lower is better. Bits per character compare across tokenizations; at char level they are "
        "the loss divided by ln 2.",
        "",
        "| step | train loss | val loss | val perplexity | val bits/char |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in valid_history(train)[-10:]:
        val = row.get("val_loss")
        ppl = math.exp(min(float(val), 700)) if _finite(val) else None
        lines.append(
            f"| {row['step']} | {_number(row.get('train_loss'))} | {_number(val)} | {_number(ppl, '.3f')} | "
            f"{_number(bits_per_char(row, level))} |"
        )
    return [*lines, ""]
