"""Numbers read off an inspection, as plain-array functions (numpy only, no torch, no UI):
gate saturation, the gradient's decay through time, the most active units, entropy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np

# Gates squashed by a sigmoid, whose saturation (near 0 or 1) means "closed"/"open".
SIGMOID_GATES = {"lstm": ("input", "forget", "output"), "gru": ("reset", "update"), "rnn": ()}
SATURATION_LOW = 0.1
SATURATION_HIGH = 0.9
Floats: TypeAlias = Sequence[float] | np.ndarray  # a profile: a list or an array


def gate_saturation(
    values: np.ndarray, low: float = SATURATION_LOW, high: float = SATURATION_HIGH
) -> tuple[np.ndarray, np.ndarray]:
    """(T, H) gate activations -> per unit, the share of steps < low and the share > high."""
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"gate values must be (time, units), got shape {values.shape}")
    if values.shape[0] == 0:
        zeros = np.zeros(values.shape[1], dtype=np.float64)
        return zeros, zeros.copy()
    return (values < low).mean(axis=0), (values > high).mean(axis=0)


def last_scored_index(norms: Floats) -> int | None:
    """The last position with a non-zero gradient (the state that made the last scored guess)."""
    nonzero = np.flatnonzero(np.asarray(norms, dtype=np.float64) > 0)
    return int(nonzero[-1]) if nonzero.size else None


def grad_decay_ratio(norms: Floats) -> float | None:
    """||dL/dh_1|| / ||dL/dh_T||: how much of the gradient reaches the start of the window.

    T is the last step with a non-zero gradient (the final token's state predicts
    nothing that is scored). None when there is no such pair of steps. Near 0 means the
    gradient vanished on its way back; near or above 1 means it survived.
    """
    values = np.asarray(norms, dtype=np.float64)
    end = last_scored_index(values)
    if end is None or end == 0:
        return None
    return float(values[0] / values[end])


def grad_decay_per_step(norms: Floats) -> float | None:
    """The average factor the gradient norm is multiplied by per step back in time."""
    ratio = grad_decay_ratio(norms)
    end = last_scored_index(norms)
    if ratio is None or end is None or ratio <= 0:
        return 0.0 if ratio == 0 else None
    return float(ratio ** (1.0 / end))


def most_active_units(values: np.ndarray, n: int = 5) -> list[tuple[int, float]]:
    """(T, H) activations -> the n units with the largest mean |activation|, with that mean."""
    values = np.asarray(values)
    if values.size == 0:
        return []
    mean_abs = np.abs(values).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")[:n]
    return [(int(u), float(mean_abs[u])) for u in order]


def entropy_of(probs: Floats) -> float:
    """Entropy in nats of a probability vector."""
    p = np.asarray(probs, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def describe_decay_ratio(
    ratio: float | None, number: Callable[[float], str] = lambda r: f"{r:.2g}", missing: str = "n/a"
) -> str:
    """A decay ratio for people: ``missing`` when unknown, "0 (vanished)" when the gradient
    underflowed float32 on its way back, else ``number(ratio)``."""
    if ratio is None or not math.isfinite(ratio):
        return missing
    if ratio == 0:
        return "0 (vanished)"
    return number(ratio)
