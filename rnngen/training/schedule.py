"""The run's clock: how long the budget is, how much of it is used, the learning rate at
each step, when to evaluate, and how long is left. Pure functions of numbers, so every
rule is testable without a model.
"""

from __future__ import annotations

import math

from rnngen.config import TrainConfig


def total_steps(config: TrainConfig, windows_per_epoch: int) -> int | None:
    """Steps of the whole run for a --steps or --epochs budget; None for a time budget."""
    if config.steps is not None:
        return config.steps
    if config.epochs is not None:
        return max(1, math.ceil(config.epochs * windows_per_epoch))
    return None


def progress(step: int, total: int | None, elapsed_s: float, time_s: float | None) -> float:
    """Share of the budget used, 0..1: by steps, or by training time for a time budget."""
    if total is not None:
        return min(1.0, step / max(total, 1))
    assert time_s is not None
    return min(1.0, elapsed_s / time_s)


def budget_done(step: int, total: int | None, elapsed_s: float, time_s: float | None) -> bool:
    if total is not None:
        return step >= total
    assert time_s is not None
    return elapsed_s >= time_s


def learning_rate(config: TrainConfig, step: int, done: float, lr_scale: float = 1.0) -> float:
    """Linear warm-up over ``warmup_steps``, then constant or cosine decay to ``min_lr_frac``
    of the peak as the budget is used (``done``, 0..1); times ``lr_scale`` (lowered by
    --on-nan skip)."""
    assert config.lr is not None
    warm = config.warmup_steps or 0
    if step < warm:
        factor = (step + 1) / warm
    elif config.schedule == "constant":
        factor = 1.0
    else:
        cosine = 0.5 * (1.0 + math.cos(math.pi * done))
        factor = config.min_lr_frac + (1.0 - config.min_lr_frac) * cosine
    return config.lr * factor * lr_scale


def eval_due(
    config: TrainConfig, step: int, total: int | None, elapsed_s: float, last_eval_step: int, last_eval_time: float
) -> bool:
    """Every ``eval_every`` steps when given; else about ten evaluations per run."""
    if config.eval_every:
        return step - last_eval_step >= config.eval_every
    if total is not None:
        return step - last_eval_step >= max(1, total // 10)
    assert config.time_s is not None
    return elapsed_s - last_eval_time >= config.time_s / 10


def eta(step: int, total: int | None, elapsed_s: float, time_s: float | None, step_s: float) -> float | None:
    """Seconds left: the steps left at ``step_s`` each, or the time budget left."""
    if total is not None:
        return max(0, total - step) * step_s
    assert time_s is not None
    return max(0.0, time_s - elapsed_s)


def evals_since_best(history: list[dict], best_step: int | None) -> int:
    """Evaluations with a validation loss after the best one (all of them if none was best yet)."""
    return sum(
        1 for row in history if row.get("val_loss") is not None and (best_step is None or row["step"] > best_step)
    )


def patience_spent(patience: int | None, history: list[dict], best_step: int | None) -> bool:
    """--patience: ``patience`` evaluations in a row brought no new best validation loss."""
    if not patience or best_step is None:
        return False
    return evals_since_best(history, best_step) >= patience
