"""Settings chosen from the budget, the machine and the corpus.

Every option left out (``None`` in ``TrainConfig``) is chosen here, before training:

1. **How many tokens the budget buys.** A ``--steps`` or ``--epochs`` budget gives it
   directly. A ``--time`` budget is measured: a few timed training steps of each candidate
   shape on this machine, smallest first (about a second in all, counted inside the
   budget), times the seconds left.
2. **The shape.** The largest candidate that still sees at least ``TOKENS_PER_PARAMETER``
   tokens per parameter in that budget: a bigger network learns more per token, but one
   trained on too few tokens per parameter ends the budget undertrained. The ratio comes
   from the sweeps in ``benchmarks/`` (README there, "Frontier").
3. **Batch.** The fewest parallel streams that keep the machine busy: more updates in the
   same time. On a CPU, 16 streams train about as many tokens per second as 64 (measured).
4. **Learning rate, dropout, evaluation.** The peak rate shrinks with the width; dropout
   grows with the number of passes over the text the budget covers (none below 6: a
   model that sees the text a few times cannot overfit it); evaluations read as much of
   the validation text as fits in ~3% of the budget.

The functions here are pure apart from ``measure_speed``; a fake speed function makes
the choice testable without timing anything.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from rnngen.config import TrainConfig

# Candidate shapes, smallest first: (layers, units). One wide layer trains faster per
# parameter on a CPU than two narrow ones; depth comes in once the budget affords width.
CHAR_SHAPES: tuple[tuple[int, int], ...] = (
    (1, 128),
    (1, 192),
    (1, 256),
    (1, 384),
    (1, 512),
    (1, 768),
    (2, 512),
    (2, 768),
    (3, 1024),
)
# Word level: the vocabulary's embedding and softmax dominate; word_language_model's sizes.
WORD_SHAPES: tuple[tuple[int, int], ...] = ((2, 200), (2, 256), (2, 400), (2, 650), (2, 1024))
TOKENS_PER_PARAMETER = 4.0
# Word level from two passes over the text: word_language_model's recipe, with rnngen's schedule.
SGD_FROM_EPOCHS, SGD_FROM_STEPS = 2.0, 500
SGD_LR, SGD_CLIP, SGD_DROPOUT = 20.0, 0.25, 0.2
EVAL_SHARE = 0.03  # of the run's time, over all evaluations together
EVALS_PER_RUN = 10
CHAR_EMBED = 64
CPU_BATCHES = (16, 32, 64)
GPU_BATCHES = (64, 128, 256)
BATCH_GAIN = 1.5  # a bigger batch must train this many times the tokens/s to be worth fewer updates
DEFAULT_TIME_S = 300.0
MEASURE_STEPS = 3
PROBE_SHARE = 0.1  # of a --time budget: timing stops there and the largest shape timed so far is used


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    embed: int

    @property
    def label(self) -> str:
        return f"{self.layers}x{self.hidden}"


@dataclass
class Plan:
    """What was chosen and why: shown on the run's first lines, stored in the checkpoint."""

    tokens: int = 0  # tokens the budget buys with the chosen settings
    tokens_per_s: float | None = None  # measured on this machine for the chosen shape
    epochs: float | None = None
    measured: dict[str, float] = field(default_factory=dict)  # "1x384 b16" -> tokens/s
    seconds: float = 0.0  # time spent measuring (counted inside --time)
    chosen: list[str] = field(default_factory=list)  # option names chosen here, not given
    summary: str = ""
    replanned: dict | None = None  # the re-check during the run, if it changed anything

    def to_json(self) -> dict:
        return {
            "tokens": self.tokens,
            "tokens_per_s": self.tokens_per_s and round(self.tokens_per_s),
            "epochs": self.epochs and round(self.epochs, 2),
            "measured": {k: round(v) for k, v in self.measured.items()},
            "seconds": round(self.seconds, 2),
            "chosen": self.chosen,
            "summary": self.summary,
            **({"replanned": self.replanned} if self.replanned else {}),
        }


# A speed function: (cell, shape, batch, seq_len) -> training tokens per second.
SpeedFn = Callable[[str, Shape, int, int], float]


def parameters(cell: str, shape: Shape, vocab: int, tie: bool = False) -> int:
    """Exact parameter count of ``RNNLanguageModel`` with this shape."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    total = vocab * shape.embed
    width_in = shape.embed
    for _ in range(shape.layers):
        total += gates * shape.hidden * (width_in + shape.hidden + 2)
        width_in = shape.hidden
    total += vocab + (0 if tie else shape.hidden * vocab)
    return total


def default_optimizer(level: str, epochs: float | None, steps: float = math.inf) -> str:
    """Plain SGD for word level from ``SGD_FROM_EPOCHS`` passes and ``SGD_FROM_STEPS`` steps
    on, AdamW everywhere else.

    Measured on tiny-shakespeare's words (benchmarks/README.md, "Word level"): AdamW leads
    in the first pass (perplexity 154 against word_language_model's SGD 168), then stalls
    near 136 however much dropout it gets, while SGD at a large rate keeps improving
    (111 after three passes). SGD starts slowly (it must learn the word frequencies the
    AdamW start is given), so a short run keeps AdamW however small its text.
    """
    long_enough = epochs is not None and epochs >= SGD_FROM_EPOCHS and steps >= SGD_FROM_STEPS
    return "sgd" if level == "word" and long_enough else "adamw"


def default_lr(level: str, shape: Shape, optimizer: str = "adamw") -> float:
    """Peak AdamW rate: 5e-3 at 384 units, shrinking as 1/sqrt(width), lower for depth.
    SGD: word_language_model's 20 (with its clipping at 0.25)."""
    if optimizer == "sgd":
        return SGD_LR
    if level == "word":
        return 3e-3
    lr = 5e-3 * math.sqrt(384 / shape.hidden) * (0.8 if shape.layers > 1 else 1.0)
    return float(f"{min(8e-3, max(1.5e-3, lr)):.2g}")


def default_clip(optimizer: str) -> float:
    return SGD_CLIP if optimizer == "sgd" else 1.0


def default_dropout(epochs: float | None, optimizer: str = "adamw") -> float:
    """None below 6 passes over the text, then 0.1, 0.2, 0.3 as the passes double.
    SGD (word level, two passes or more): word_language_model's 0.2.

    Measured (benchmarks/README.md): 1x256 at 4.3 passes, dropout 0.1 cost 0.02 nats/char
    against none; 2x256 at ~12 passes, 0.2 beat none by 0.05 (0.3 was close behind).
    """
    if optimizer == "sgd":
        return SGD_DROPOUT
    if epochs is None or epochs < 6:
        return 0.0
    return min(0.3, 0.1 * (1 + math.floor(math.log2(epochs / 6))))


def passes_by_end(tokens_seen: int, tokens_per_s: float, seconds_left: float, train_tokens: int) -> float:
    """Passes over the training text a --time run will have made at its end, at the speed it trains now."""
    ahead = max(0.0, seconds_left) * (1 - EVAL_SHARE) * max(0.0, tokens_per_s)
    return (tokens_seen + ahead) / max(train_tokens, 1)


def rechecked_dropout(planned: float, passes: float, optimizer: str = "adamw") -> float | None:
    """The dropout for the passes the run really makes, if it differs from the planned one.

    The plan's speed comes from a probe of a few steps; a probe taken while something else
    used the CPU can be off by 3x (measured: benchmarks/README.md, "A disturbed 600 s run"),
    which would leave a long run without dropout, or a short one with too much.
    """
    dropout = default_dropout(passes, optimizer)
    return None if dropout == planned else dropout


def dropout_recheck(
    config: TrainConfig,
    plan: Plan,
    *,
    step: int,
    tokens_seen: int,
    tokens_per_s: float,
    seconds_left: float,
    train_tokens: int,
) -> dict | None:
    """The re-check of a planned dropout from the run's own speed: the record of the change
    (stored as ``Plan.replanned``), or None when the plan stands or the dropout was given."""
    if "dropout" not in plan.chosen or tokens_per_s <= 0 or config.dropout is None or config.optimizer is None:
        return None
    passes = passes_by_end(tokens_seen, tokens_per_s, seconds_left, train_tokens)
    dropout = rechecked_dropout(config.dropout, passes, config.optimizer)
    if dropout is None:
        return None
    message = (
        f"this run trains ~{tokens_per_s / 1e3:.1f}k tokens/s, not the probe's "
        f"~{(plan.tokens_per_s or 0) / 1e3:.1f}k: {passes:.1f} epochs by the end, "
        f"so dropout {dropout:g} instead of {config.dropout:g}"
    )
    return {
        "step": step,
        "tokens_per_s": round(tokens_per_s),
        "epochs": round(passes, 2),
        "dropout": dropout,
        "message": message,
    }


def candidate_shapes(config: TrainConfig, level: str) -> list[Shape]:
    """The candidates that agree with every shape option the user gave."""
    shapes = WORD_SHAPES if level == "word" else CHAR_SHAPES
    out = []
    for layers, hidden in shapes:
        layers = config.layers if config.layers is not None else layers
        hidden = config.hidden if config.hidden is not None else hidden
        if config.embed is not None:
            embed = config.embed
        elif config.tie:
            embed = hidden
        else:
            embed = hidden if level == "word" else CHAR_EMBED
        shape = Shape(layers, hidden, embed)
        if shape not in out:
            out.append(shape)
    return out


def fallback_speed(cell: str, shape: Shape, batch: int, seq_len: int, vocab: int) -> float:
    """A rough tokens/s from the arithmetic alone (no timing): for distributed runs,
    where every process must reach the same choice, and for GPUs before they are timed."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    macs = gates * shape.hidden * (shape.embed + shape.hidden) + (shape.layers - 1) * gates * 2 * shape.hidden**2
    macs += shape.hidden * vocab
    return 4e10 / (6 * macs)  # ~40 GFLOP/s sustained, 6 FLOPs per MAC for forward + backward


def measure_speed(
    cell: str,
    shape: Shape,
    batch: int,
    seq_len: int,
    vocab: int,
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    steps: int = MEASURE_STEPS,
) -> float:
    """Training tokens per second of this shape here: one warm-up step, then the median of ``steps``."""
    from rnngen.model import ModelConfig, RNNLanguageModel

    model = RNNLanguageModel(
        ModelConfig(cell=cell, vocab_size=vocab, embed=shape.embed, hidden=shape.hidden, layers=shape.layers)
    ).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (batch, seq_len), generator=generator).to(device)
    y = torch.randint(0, vocab, (batch, seq_len), generator=generator).to(device)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits, _ = model(x)
        loss = F.cross_entropy(logits.float().reshape(-1, vocab), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # waits for the device
        if i:
            times.append(time.perf_counter() - t0)
    # The median step: one step slowed by another process does not decide the shape.
    return batch * seq_len / max(sorted(times)[len(times) // 2], 1e-9)


def plan(
    config: TrainConfig,
    *,
    train_tokens: int,
    val_tokens: int,
    vocab: int,
    gpu: bool,
    speed: SpeedFn | None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[TrainConfig, Plan]:
    """Fill every ``None`` option of ``config``; returns (config, Plan).

    ``speed`` measures a shape (or fakes it, in tests); None means "use the arithmetic
    estimate", which keeps distributed ranks in agreement. Time spent in ``speed`` is
    counted in ``Plan.seconds`` and inside a ``--time`` budget.
    """
    c = config
    if c.steps is None and c.epochs is None and c.time_s is None:
        c = replace(c, time_s=DEFAULT_TIME_S)
    level = c.level
    chosen = [
        name
        for name in (
            "layers",
            "hidden",
            "embed",
            "batch_size",
            "seq_len",
            "lr",
            "dropout",
            "optimizer",
            "clip",
            "tie",
            "warmup_steps",
            "eval_tokens",
        )
        if getattr(c, name) is None
    ]
    result = Plan(chosen=chosen)
    seq_len = c.seq_len if c.seq_len is not None else (35 if level == "word" else 64)
    batches = [c.batch_size] if c.batch_size is not None else list(GPU_BATCHES if gpu else CPU_BATCHES)
    if level == "word" and c.batch_size is None:
        batches = [20]  # word_language_model's streams; the softmax dominates a step
    shapes = candidate_shapes(c, level)
    started = clock()
    speeds: dict[tuple[Shape, int], float] = {}

    def tokens_per_s(shape: Shape, batch: int) -> float:
        if (shape, batch) not in speeds:
            if speed is None:
                speeds[shape, batch] = fallback_speed(c.cell, shape, batch, seq_len, vocab)
            else:
                speeds[shape, batch] = speed(c.cell, shape, batch, seq_len)
                result.measured[f"{shape.label} b{batch}"] = speeds[shape, batch]
        return speeds[shape, batch]

    def budget_tokens(shape: Shape, batch: int) -> float:
        if c.steps is not None:
            return c.steps * batch * seq_len
        if c.epochs is not None:
            return c.epochs * train_tokens
        seconds = c.time_s or 0.0
        left = seconds * (1 - EVAL_SHARE) - (clock() - started if speed is not None else 0.0)
        return max(0.0, left) * tokens_per_s(shape, batch)

    def probe_spent() -> bool:
        return speed is not None and c.time_s is not None and clock() - started > PROBE_SHARE * c.time_s

    def largest_fed(batch: int) -> Shape:
        """Smallest first; stop at the first shape the budget cannot feed: bigger ones are slower still."""
        fed = shapes[0]
        for candidate in shapes[1:] if len(shapes) > 1 else ():
            if (candidate, batch) not in speeds and probe_spent():
                break  # a short budget on a slow (or busy) machine: timing must not eat the run
            if budget_tokens(candidate, batch) < TOKENS_PER_PARAMETER * parameters(
                c.cell, candidate, vocab, bool(c.tie)
            ):
                break
            fed = candidate
        return fed

    needs_timing = c.time_s is not None
    batch = batches[0]
    shape = largest_fed(batch)
    if needs_timing and len(batches) > 1:
        for bigger in batches[1:]:
            if probe_spent():
                break
            if tokens_per_s(shape, bigger) < BATCH_GAIN * tokens_per_s(shape, batch):
                break  # the machine is already busy: a bigger batch only means fewer updates
            batch = bigger
        if batch != batches[0]:
            shape = largest_fed(batch)  # more tokens/s may feed a bigger network
    tokens = budget_tokens(shape, batch)
    epochs = tokens / max(train_tokens, 1)
    optimizer = c.optimizer or default_optimizer(level, epochs, tokens / (batch * seq_len))
    c = replace(
        c,
        optimizer=optimizer,
        # Word level with SGD: one matrix for embedding and head generalises better (measured:
        # perplexity 101.8 against 105.2 after four passes; Press and Wolf 2017).
        tie=c.tie if c.tie is not None else (optimizer == "sgd" and shape.embed == shape.hidden),
        clip=c.clip if c.clip is not None else default_clip(optimizer),
        layers=shape.layers,
        hidden=shape.hidden,
        embed=shape.embed,
        batch_size=batch,
        seq_len=seq_len,
        lr=c.lr if c.lr is not None else default_lr(level, shape, optimizer),
        dropout=c.dropout if c.dropout is not None else default_dropout(epochs, optimizer),
        warmup_steps=c.warmup_steps if c.warmup_steps is not None else 50,
    )
    result.seconds = clock() - started if speed is not None and needs_timing else 0.0
    result.tokens = int(tokens)
    result.epochs = epochs
    if needs_timing:
        result.tokens_per_s = tokens_per_s(shape, batch)
    result.summary = describe(c, result, timed=needs_timing and speed is not None)
    return c, result


def eval_tokens_for(train_tokens_per_s: float, val_tokens: int, run_seconds: float) -> int:
    """Validation tokens per evaluation so that all evaluations take ~EVAL_SHARE of the run.

    A forward pass without gradients over a wide batch runs ~3x the training rate.
    """
    per_eval_s = EVAL_SHARE * run_seconds / EVALS_PER_RUN
    affordable = int(per_eval_s * 3 * train_tokens_per_s)
    return max(1, min(val_tokens, max(affordable, 8 * 1024)))


def _millions(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.0f}k"


def describe(c: TrainConfig, p: Plan, *, timed: bool) -> str:
    """One line: what the budget buys and what was chosen for it."""
    rate = f"SGD lr {c.lr:g} clip {c.clip:g}" if c.optimizer == "sgd" else f"lr {c.lr:g}"
    rate += ", tied" if c.tie else ""
    settings = f"{c.cell.upper()} {c.layers}x{c.hidden}, batch {c.batch_size} x {c.seq_len}, {rate}, " + (
        f"dropout {c.dropout:g}" if c.dropout else "no dropout"
    )
    if c.time_s is not None and timed and p.tokens_per_s:
        budget = (
            f"this machine trains ~{p.tokens_per_s / 1e3:.1f}k tokens/s on {c.layers}x{c.hidden} -> "
            f"~{_millions(p.tokens)} tokens in {c.time_s:g} s"
        )
    elif c.steps is not None:
        budget = f"{c.steps:,} steps -> {_millions(p.tokens)} tokens"
    elif c.epochs is not None:
        budget = f"{c.epochs:g} epochs -> {_millions(p.tokens)} tokens"
    else:
        budget = f"~{_millions(p.tokens)} tokens in {c.time_s:g} s (estimated)"
    return f"{budget}, {p.epochs:.1f} epochs: {settings}"
