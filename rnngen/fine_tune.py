"""``rnngen train NEW --init-from CKPT``: start from a checkpoint's weights on a new corpus.

Unlike ``--resume`` the optimizer, schedule and step count start fresh. The network keeps
the parent's shape; at char and word level tokens the parent never saw grow the
vocabulary (new embedding and output rows, the output bias at the new text's log
frequency), every other weight is the parent's. BPE encodes any text with its own
vocabulary, so it never grows. The child records its parent (path, SHA-256, steps).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from rnngen.checkpoint import Checkpoint, load_checkpoint
from rnngen.config import TrainConfig
from rnngen.errors import RnngenError, setting
from rnngen.model import RNNLanguageModel
from rnngen.model_folder import WEIGHTS_FILE
from rnngen.tokenizers import CharTokenizer, Tokenizer, WordTokenizer, text_chunks

# Weights with one row per token: they grow with the vocabulary.
PER_TOKEN = ("embedding.weight", "head.weight", "head.bias")


def load_parent(path: Path) -> Checkpoint:
    """The checkpoint to start from, or one line saying why it cannot be one."""
    parent = load_checkpoint(path, with_training_state=False)
    if not isinstance(parent.train.get("config"), dict):
        raise RnngenError(f"{path} holds weights without rnngen's training settings; it cannot be a starting point")
    return parent


def parent_record(path: Path, parent: Checkpoint) -> dict:
    """What the child's metadata says about where it started."""
    digest = hashlib.sha256()
    # An exported model folder: its weights file is the checkpoint (rnngen/model_folder.py).
    weights = path / WEIGHTS_FILE if Path(path).is_dir() else path
    with open(weights, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    step = parent.train.get("step")
    return {
        "path": str(path),
        "sha256": digest.hexdigest(),
        "steps": step if isinstance(step, int) and not isinstance(step, bool) else None,
    }


def config_from_parent(config: TrainConfig, explicit: set[str], parent: Checkpoint) -> TrainConfig:
    """``config`` with the parent's shape; an option given that contradicts it is refused."""
    m = parent.model_config
    shape: dict[str, Any] = {"level": parent.tokenizer.level, "cell": m.cell, "layers": m.layers, "hidden": m.hidden}
    shape |= {"embed": m.embed, "tie": m.tie}
    for name, value in shape.items():
        if name in explicit and getattr(config, name) != value:
            raise RnngenError(
                f"{setting('model' if name == 'cell' else name)} {getattr(config, name)} contradicts the {setting('init_from')} checkpoint's "
                f"{value}; fine-tuning keeps the parent's shape"
            )
    saved_vocab = parent.train["config"].get("vocab_size")
    vocab_size = config.vocab_size if "vocab_size" in explicit else saved_vocab
    if shape["level"] == "char":
        if "vocab_size" in explicit and config.vocab_size is not None:
            raise RnngenError(f"{setting('vocab_size')} applies to {setting('level')} word only")
        vocab_size = None
    elif shape["level"] == "bpe" and "vocab_size" in explicit and config.vocab_size != parent.tokenizer.vocab_size:
        raise RnngenError(
            f"{setting('vocab_size')} {config.vocab_size} contradicts the {setting('init_from')} checkpoint's "
            f"{parent.tokenizer.vocab_size}: a BPE vocabulary is fixed"
        )
    if not (vocab_size is None or (isinstance(vocab_size, int) and not isinstance(vocab_size, bool))):
        vocab_size = None  # a stranger's metadata: no cap rather than a bad one
    return replace(config, **shape, vocab_size=vocab_size)


def grow_tokenizer(parent: Tokenizer, text: str, cap: int | None = None) -> tuple[Tokenizer, list[str]]:
    """The parent's vocabulary plus the tokens of ``text`` it lacks (appended, so every
    old id keeps its meaning), and those new tokens. Word level: most frequent first, and
    no more than ``cap`` tokens in all. BPE: the parent's tokenizer as it is."""
    if isinstance(parent, CharTokenizer):
        seen: set[str] = set()
        for chunk in text_chunks(text):
            seen.update(chunk)
        new = sorted(seen - set(parent.vocab))
        return (CharTokenizer(parent.vocab + new) if new else parent), new
    if isinstance(parent, WordTokenizer):
        counts: Counter[str] = Counter()
        for chunk in text_chunks(text):
            counts.update(parent.split(chunk))
        ranked = sorted((w for w in counts if w not in parent.index), key=lambda w: (-counts[w], w))
        if cap is not None:
            ranked = ranked[: max(0, cap - parent.vocab_size)]
        return (WordTokenizer(parent.vocab + ranked) if ranked else parent), ranked
    return parent, []


def transfer_weights(parent: Checkpoint, model: RNNLanguageModel) -> None:
    """Copy the parent's weights into ``model`` (same shape, possibly more tokens): rows of
    tokens the parent knew are the parent's; new rows keep the model's fresh values (for
    the output bias: the new text's log frequency, set before this is called)."""
    source = parent.build_model().state_dict()
    target = model.state_dict()
    with torch.no_grad():
        for name, tensor in target.items():
            old = source[name]
            if name in PER_TOKEN and old.shape[1:] == tensor.shape[1:] and old.shape[0] <= tensor.shape[0]:
                tensor[: old.shape[0]].copy_(old)
            elif old.shape == tensor.shape:
                tensor.copy_(old)
            else:  # a bug: config_from_parent keeps the shape
                raise AssertionError(f"{name}: parent {tuple(old.shape)}, child {tuple(tensor.shape)}")
