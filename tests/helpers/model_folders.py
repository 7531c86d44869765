"""Small real checkpoints of every level and cell, and their exported model folders."""

from __future__ import annotations

from pathlib import Path

import torch

from helpers.cli import ENGLISH, run_cli
from rnngen.bpe import BPETokenizer
from rnngen.checkpoint import Checkpoint, save_checkpoint
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.tokenizers import CharTokenizer, WordTokenizer

TEXT = ENGLISH * 6
LEVELS = ("char", "word", "bpe")
CELLS = ("lstm", "gru", "rnn")
HISTORY = [
    {"step": 10, "elapsed_s": 1.5, "train_loss": 2.71828, "val_loss": 2.5, "val_bpc": 3.1234},
    {"step": 20, "elapsed_s": 3.0, "train_loss": 2.0, "val_loss": 1.8, "val_bpc": 2.5967},
    {"step": 30, "elapsed_s": 4.5, "train_loss": 1.7, "val_loss": 1.9, "val_bpc": 2.7411},
]


def tokenizer_for(level: str):
    if level == "char":
        return CharTokenizer.fit(TEXT)
    if level == "word":
        return WordTokenizer.fit(TEXT)
    return BPETokenizer.fit(TEXT, 300)


def make_checkpoint(path: Path, level: str = "char", cell: str = "lstm", *, tie: bool = False, train=None) -> Path:
    """A checkpoint with seeded random weights (sampling depends on every weight all the same)."""
    tokenizer = tokenizer_for(level)
    size = 16 if tie else 8
    config = ModelConfig(cell=cell, vocab_size=tokenizer.vocab_size, embed=size, hidden=16, layers=2, tie=tie)
    torch.manual_seed(5)
    model = RNNLanguageModel(config)
    record = train if train is not None else {
        "step": 30, "tokens_seen": 4800, "elapsed_s": 4.5, "train_tokens": 900, "val_tokens": 100,
        "best_val_loss": 1.8, "best_step": 20, "history": HISTORY,
        "config": {"level": level, "cell": cell, "layers": 2, "hidden": 16, "lr": 0.004, "seed": 3},
    }  # fmt: skip
    save_checkpoint(path, Checkpoint(config, tokenizer, record, dict(model.state_dict())))
    return path


def export_folder(ckpt: Path, out: Path) -> Path:
    run_cli("export", ckpt, "--format", "hf", out)
    return out
