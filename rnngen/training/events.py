"""What the trainer reports, through its callback: plain dataclasses, each built once, complete.

The CLI's progress bar, the dashboard, the metrics writers and ``rnngen compare`` all
consume these; none of them reaches into the trainer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rnngen.config import TrainConfig
from rnngen.evaluation import EvalResult
from rnngen.model import ModelConfig


@dataclass
class StartEvent:
    config: TrainConfig
    model_config: ModelConfig
    parameters: int
    train_tokens: int
    val_tokens: int
    vocab_size: int
    start_step: int
    total_steps: int | None
    time_budget_s: float | None
    out: Path
    notes: list[str] = field(default_factory=list)
    plan: str | None = None  # what the budget buys and what was chosen for it
    plan_details: dict | None = None  # Plan.to_json(): the options chosen, the speeds measured


@dataclass
class StepEvent:
    step: int  # steps completed
    loss: float
    bpc: float
    grad_norm: float  # global norm before clipping
    clipped: bool
    lr: float
    tokens_per_s: float
    elapsed_s: float  # training time of the whole run, resumes included
    progress: float  # 0..1 of the budget
    eta_s: float | None
    param_grad_norms: dict[str, float] | None = None


@dataclass
class EvalEvent:
    step: int
    train_loss: float
    val: EvalResult | None
    best: bool


@dataclass
class SavedEvent:
    step: int
    path: Path
    best_path: Path | None


@dataclass
class AlarmEvent:
    step: int
    message: str
    parameter: str


@dataclass
class ReplanEvent:
    """The plan changed during the run (the run's own speed disagreed with the probe's)."""

    step: int
    message: str


@dataclass
class DoneEvent:
    step: int
    reason: str  # "budget", "stopped", "diverged" or "patience" (no new best in --patience evaluations)
    out: Path
    best_path: Path | None
    val: EvalResult | None


TrainEvent = StartEvent | StepEvent | EvalEvent | SavedEvent | AlarmEvent | ReplanEvent | DoneEvent
Callback = Callable[[TrainEvent], None]
