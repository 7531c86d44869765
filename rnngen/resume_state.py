"""The part of a checkpoint that makes a resume faithful, beside the weights: AdamW's
moments, the hidden state carried between training windows, and torch's random-number
state. ``checkpoint.py`` reads and writes the file; this module turns a trainer's live
objects into those tensors and back.

    optim.exp_avg.<param>      AdamW first moment
    optim.exp_avg_sq.<param>   AdamW second moment
    train.state.<i>            hidden state (h, and c for an LSTM)
    train.rng                  torch's CPU random-number-generator state
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

import torch

from rnngen.checkpoint import OPTIM_PREFIX, RNG_KEY, Checkpoint
from rnngen.config import TrainConfig
from rnngen.errors import RnngenError

STATE_PREFIX = "train.state."


# ---- the progress fields of ``rnngen.train`` (metadata: a stranger's file may hold anything)


def _count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _number(v: object) -> TypeGuard[int | float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _seconds(v: object) -> bool:
    return _number(v) and math.isfinite(v) and v >= 0


def _row(v: object) -> bool:
    """One history row: its step, and numbers (or None) for what it measured."""
    if not isinstance(v, dict) or not _count(v.get("step")):
        return False
    return all(v.get(k) is None or _number(v.get(k)) for k in ("elapsed_s", "train_loss", "val_loss", "val_bpc"))


# Each field rnngen writes, with what it must be; a field may be absent (older files).
PROGRESS_FIELDS: dict[str, Callable[[object], bool]] = {
    "step": _count,
    "optim_step": _seconds,  # AdamW's step count, a float: finite and not negative
    "tokens_seen": _count,
    "elapsed_s": _seconds,
    "train_tokens": _count,
    "val_tokens": _count,
    "best_val_loss": lambda v: v is None or _number(v),
    "best_step": lambda v: v is None or _count(v),
    "lr_scale": lambda v: _number(v) and 0 < v <= 1,  # halved by --on-nan skip (NaN fails too)
    "history": lambda v: isinstance(v, list) and all(_row(r) for r in v),
    "config": lambda v: isinstance(v, dict),
    "plan": lambda v: v is None or isinstance(v, dict),
}


def malformed_fields(train: dict) -> list[str]:
    """The progress fields of ``train`` (a checkpoint's ``rnngen.train``) that break their rules."""
    return [name for name, ok in PROGRESS_FIELDS.items() if name in train and not ok(train[name])]


def valid_history(train: dict) -> list[dict]:
    """The well-formed rows of ``train``'s history (all of them in a file rnngen wrote)."""
    history = train.get("history")
    return [row for row in history if _row(row)] if isinstance(history, list) else []


@dataclass(frozen=True)
class Progress:
    """Where a resumed run picks up: read from ``rnngen.train``, every field checked."""

    step: int
    optim_step: float
    tokens_seen: int
    elapsed_s: float
    train_tokens: int | None
    best_val_loss: float | None
    best_step: int | None
    lr_scale: float
    history: list[dict]
    plan: dict | None


def check_resumed_shape(config: TrainConfig, ckpt: Checkpoint) -> None:
    """The resumed run's settings describe the checkpoint's own network. Checked before any
    model is built from the settings, which a forger could make enormous (hidden 2**40)."""
    model = ckpt.model_config
    for name in ("cell", "layers", "hidden", "embed", "tie"):
        mine, theirs = getattr(config, name), getattr(model, name)
        if mine != theirs:
            shown = str(mine) if len(str(mine)) <= 40 else str(mine)[:37] + "..."
            raise RnngenError(
                f"checkpoint {ckpt.path}: its training settings say {name} {shown} but its model has {theirs}"
            )


def read_progress(ckpt: Checkpoint) -> Progress:
    """The checkpoint's progress, or one RnngenError naming the first malformed field."""
    train = ckpt.train
    bad = malformed_fields(train)
    if bad:
        raise RnngenError(f"checkpoint {ckpt.path}: its training progress field {bad[0]} is malformed")
    step = train.get("step", 0)
    return Progress(
        step=step,
        optim_step=float(train.get("optim_step", step)),
        tokens_seen=train.get("tokens_seen", 0),
        elapsed_s=float(train.get("elapsed_s", 0.0)),
        train_tokens=train.get("train_tokens"),
        best_val_loss=train.get("best_val_loss"),
        best_step=train.get("best_step"),
        lr_scale=float(train.get("lr_scale", 1.0)),
        history=list(train.get("history", [])),
        plan=train.get("plan"),
    )


def resume_tensors(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: tuple[torch.Tensor, ...]
) -> dict[str, torch.Tensor]:
    """The optimizer moments, the carried hidden state and the RNG state, by checkpoint name."""
    tensors: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        st = optimizer.state.get(p)
        if st and "exp_avg" in st:  # AdamW's; plain SGD keeps none
            tensors[f"{OPTIM_PREFIX}exp_avg.{name}"] = st["exp_avg"]
            tensors[f"{OPTIM_PREFIX}exp_avg_sq.{name}"] = st["exp_avg_sq"]
    for i, s in enumerate(state):
        tensors[f"{STATE_PREFIX}{i}"] = s
    tensors[RNG_KEY] = torch.get_rng_state()
    return tensors


def optimizer_step_count(optimizer: torch.optim.Optimizer) -> float | None:
    """AdamW's own step count (for its bias correction), or None before the first step."""
    for st in optimizer.state.values():
        return float(st["step"]) if "step" in st else None
    return None


def restore_optimizer(
    ckpt: Checkpoint, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device, step: float
) -> None:
    """Put the checkpoint's AdamW moments back (every parameter must have them, in its shape).
    Plain SGD keeps no state: nothing to restore."""
    if isinstance(optimizer, torch.optim.SGD):
        return
    opt_state = optimizer.state
    for name, p in model.named_parameters():
        m = ckpt.tensors.get(f"{OPTIM_PREFIX}exp_avg.{name}")
        v = ckpt.tensors.get(f"{OPTIM_PREFIX}exp_avg_sq.{name}")
        if m is None or v is None:
            raise RnngenError(f"{ckpt.path}: optimizer state for {name} is missing")
        if m.shape != p.shape or v.shape != p.shape:
            raise RnngenError(f"{ckpt.path}: optimizer state for {name} has the wrong shape")
        opt_state[p] = {
            "step": torch.tensor(step),
            "exp_avg": m.to(device, torch.float32).clone(),
            "exp_avg_sq": v.to(device, torch.float32).clone(),
        }


def restore_hidden_state(
    ckpt: Checkpoint, parts: int, shape: tuple[int, int, int], device: torch.device
) -> tuple[torch.Tensor, ...] | None:
    """The carried hidden state (``parts`` tensors: 2 for an LSTM), or None when the
    checkpoint has none of this shape (the caller starts from zeros)."""
    carried = []
    for i in range(parts):
        t = ckpt.tensors.get(f"{STATE_PREFIX}{i}")
        if t is None or tuple(t.shape) != shape:
            return None
        carried.append(t.to(device, torch.float32).clone())
    return tuple(carried)


def restore_rng(ckpt: Checkpoint) -> bool:
    """Put torch's RNG state back; False when the checkpoint's cannot be used."""
    rng = ckpt.tensors.get(RNG_KEY)
    if rng is None or rng.dtype != torch.uint8:
        return True
    try:
        torch.set_rng_state(rng.clone())
    except RuntimeError:
        return False
    return True
