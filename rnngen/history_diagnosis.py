"""What a run's evaluation history says, in words: overfitting, still improving, levelled
off, or stuck near the unigram loss (the loss of a model that knows only how often each
token occurs). ``rnngen info`` shows it; pure functions of the history rows, so every rule
is testable on synthetic histories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# A change smaller than this share of the loss is noise, not a trend.
NOISE = 0.005
# "Stuck": the best validation loss is within this share of the unigram loss.
STUCK_SHARE = 0.05


@dataclass(frozen=True)
class Diagnosis:
    kind: str  # "overfitting", "unstable", "improving", "levelled", "stuck" or "too-few"
    text: str
    since_step: int | None = None

    def to_json(self) -> dict:
        return {"kind": self.kind, "text": self.text, "since_step": self.since_step}


def unigram_loss(counts: np.ndarray) -> float | None:
    """Nats per token of predicting every token by its frequency alone (None without tokens)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return None
    p = counts[counts > 0] / total
    return round(float(-(p * np.log(p)).sum()), 5)


def _finite(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def diagnose(history: list[dict], unigram: object = None) -> Diagnosis:
    """One sentence about ``history`` (rows with step, train_loss, val_loss, oldest first)."""
    rows = [r for r in history if _finite(r.get("val_loss")) is not None]
    if len(rows) < 3:
        return Diagnosis("too-few", f"too few evaluations to judge ({len(rows)} with a validation loss)")
    vals = [float(r["val_loss"]) for r in rows]
    best = min(range(len(vals)), key=vals.__getitem__)  # the first of equal minima
    best_val, last = vals[best], rows[-1]
    last_val, last_train = vals[-1], _finite(last.get("train_loss"))
    unigram_value = _finite(unigram)
    if unigram_value is not None and best_val >= unigram_value * (1 - STUCK_SHARE):
        return Diagnosis(
            "stuck",
            f"stuck near the unigram loss (best val {best_val:.2f}, unigram {unigram_value:.2f}): the model "
            "uses almost no context; try another --lr, a longer run or a larger model",
        )
    after = len(rows) - 1 - best
    rising = after >= 2 and last_val > best_val * (1 + NOISE)
    if rising:
        since = int(rows[best]["step"])
        train_at_best = _finite(rows[best].get("train_loss"))
        train_text = f"train {last_train:.2f}, " if last_train is not None else ""
        if last_train is not None and train_at_best is not None and last_train > train_at_best * (1 + NOISE):
            return Diagnosis(
                "unstable",
                f"unstable since step {since:,} ({train_text}val {last_val:.2f}, both rising): a lower --lr",
                since,
            )
        return Diagnosis(
            "overfitting",
            f"overfitting since step {since:,} ({train_text}val {last_val:.2f} and rising): more data, more "
            "dropout or a smaller model",
            since,
        )
    # Improving: the best is at (or next to) the end, and the last third of the run still gained.
    window = max(2, len(vals) // 3)
    earlier = vals[-window - 1]
    if best >= len(vals) - 2 and earlier - best_val > earlier * NOISE:
        return Diagnosis(
            "improving",
            f"still improving at the end (val {earlier:.2f} -> {best_val:.2f} over the last {window} "
            "evaluations): a longer --time would help",
        )
    return Diagnosis(
        "levelled",
        f"levelled off: best val {best_val:.2f} at step {int(rows[best]['step']):,}, little change since",
        int(rows[best]["step"]),
    )
