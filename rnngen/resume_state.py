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

import torch

from rnngen.checkpoint import OPTIM_PREFIX, Checkpoint
from rnngen.errors import RnngenError

STATE_PREFIX = "train.state."
RNG_KEY = "train.rng"


def resume_tensors(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: tuple[torch.Tensor, ...]
) -> dict[str, torch.Tensor]:
    """The optimizer moments, the carried hidden state and the RNG state, by checkpoint name."""
    tensors: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        st = optimizer.state.get(p)
        if st:
            tensors[f"{OPTIM_PREFIX}exp_avg.{name}"] = st["exp_avg"]
            tensors[f"{OPTIM_PREFIX}exp_avg_sq.{name}"] = st["exp_avg_sq"]
    for i, s in enumerate(state):
        tensors[f"{STATE_PREFIX}{i}"] = s
    tensors[RNG_KEY] = torch.get_rng_state()
    return tensors


def optimizer_step_count(optimizer: torch.optim.Optimizer) -> float | None:
    """AdamW's own step count (for its bias correction), or None before the first step."""
    for st in optimizer.state.values():
        return float(st["step"])
    return None


def restore_optimizer(
    ckpt: Checkpoint, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device, step: float
) -> None:
    """Put the checkpoint's AdamW moments back (every parameter must have them, in its shape)."""
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
