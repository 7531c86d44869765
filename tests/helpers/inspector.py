"""Tiny, seeded checkpoints and app helpers for the inspect / TUI tests."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import torch

from rnngen.checkpoint import Checkpoint, save_checkpoint
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.tokenizers import CharTokenizer, WordTokenizer

TEXT = (
    "ROMEO:\nBut soft, what light through yonder window breaks?\n"
    "It is the east, and Juliet is the sun.\n\n"
    "JULIET:\n\"O Romeo, Romeo, wherefore art thou Romeo?\"\n"
)


def save_tiny(path: Path, cell: str = "lstm", *, layers: int = 2, hidden: int = 24, embed: int = 8,
              level: str = "char", seed: int = 0, forget_bias: float | None = None) -> Path:
    """Save a freshly initialised, seeded model as a checkpoint (no training: identical everywhere)."""
    tokenizer = CharTokenizer.fit(TEXT) if level == "char" else WordTokenizer.fit(TEXT)
    torch.manual_seed(seed)
    config = ModelConfig(cell=cell, vocab_size=tokenizer.vocab_size, embed=embed, hidden=hidden, layers=layers)
    model = RNNLanguageModel(config)
    with torch.no_grad():
        model.head.bias.normal_(0, 0.5)  # an opinionated model: some tokens likelier than others
        model.head.weight.mul_(4)
        if forget_bias is not None and cell == "lstm":
            for k in range(layers):
                getattr(model.rnn, f"bias_ih_l{k}")[hidden:2 * hidden].fill_(forget_bias)
    train = {"step": 0, "tokens_seen": 0, "history": []}
    save_checkpoint(Path(path), Checkpoint(config, tokenizer, train, dict(model.state_dict())))
    return Path(path)


async def settle(pilot, timeout: float = 20.0) -> None:
    """Wait until the app has no loading, generation or inspection under way."""
    app = pilot.app
    await pilot.pause()
    deadline = time.monotonic() + timeout
    while app.busy:
        if time.monotonic() > deadline:
            raise AssertionError("the app is still busy")
        await asyncio.sleep(0.02)
        await pilot.pause()
    await pilot.pause()


def run(coro):
    """Run an async Pilot test from a plain pytest test (no async plugin needed)."""
    return asyncio.run(coro)
