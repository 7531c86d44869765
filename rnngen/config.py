"""Every training option in one place: ``TrainConfig``, its defaults, its validation, the one
constructor every front end uses (``train_config``) and the rules for resuming.

``None`` means "choose for me": ``rnngen.planner`` fills it from the budget, the machine
and the corpus before training starts. Errors name settings with ``errors.setting`` (the
CLI writes them as flags, the API as keyword names).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import TypeVar

from rnngen.errors import RnngenError, setting
from rnngen.units import parse_duration

# Options that define the network and its data layout: fixed once training starts.
SHAPE_OPTIONS = ("level", "cell", "layers", "hidden", "embed", "tie", "vocab_size", "seq_len", "batch_size")
# The budgets; give at most one (none: the planner's default time).
BUDGETS = ("steps", "epochs", "time_s")
# Names accepted besides TrainConfig's own fields (the CLI's spellings).
ALIASES = {"model": "cell", "time": "time_s", "warmup": "warmup_steps"}
# How an error names a budget (``time_s`` is given as ``time``).
_BUDGET_NAMES = {"steps": "steps", "epochs": "epochs", "time_s": "time"}
MAX_LR = 1e6
AUTO = "auto"  # what help texts show for an option the planner chooses


@dataclass
class TrainConfig:
    """Every training option. ``None`` means "choose for me" (see ``rnngen.planner``)."""

    level: str = "char"
    vocab_size: int | None = None  # word level: cap with <unk>
    cell: str = "lstm"
    layers: int | None = None
    hidden: int | None = None
    embed: int | None = None
    dropout: float | None = None
    tie: bool | None = None  # None = the planner's (tied for word level with SGD)
    seq_len: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None  # "adamw" or "sgd" (plain SGD, word_language_model's recipe)
    schedule: str = "cosine"  # or "constant" (after warm-up)
    min_lr_frac: float = 0.1  # cosine decays to this fraction of the peak
    warmup_steps: int | None = None
    weight_decay: float = 0.01
    clip: float | None = None  # 0 = no clipping; None = the planner's (1.0 for AdamW, 0.25 for SGD)
    steps: int | None = None  # total steps of the run (resume counts earlier steps)
    epochs: float | None = None
    time_s: float | None = None  # total training seconds (resume counts earlier time)
    val_frac: float = 0.1
    eval_every: int | None = None  # steps; None = about ten evaluations per run
    eval_tokens: int | None = None  # validation tokens per evaluation; None = what ~3% of the run affords
    seed: int = 1337
    device: str = "auto"
    threads: int | None = None
    on_nan: str = "stop"  # or "skip": drop the step, halve the learning rate, go on
    precision: str = "auto"  # "fp32", "bf16" (autocast), or "auto": bf16 where the hardware has it
    val_file: str | None = None  # validate on this text instead of the corpus's last val_frac
    patience: int | None = None  # stop after this many evaluations without a new best val loss

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})


DEFAULTS = TrainConfig()  # the defaults, for help texts

T = TypeVar("T")


def chosen(value: T | None, name: str) -> T:
    """A setting the planner has filled in (None here is a bug in rnngen, not a user error)."""
    if value is None:
        raise AssertionError(f"{name} should have been chosen before training")
    return value


def train_config(
    options: dict, *, given: set[str] | None = None, budgets: tuple[str, ...] = BUDGETS
) -> tuple[TrainConfig, set[str]]:
    """The one way to build a TrainConfig from options (``rnngen train``, ``rnngen compare``
    and ``rnngen.train``): names as the API spells them (``model``, ``time`` and ``warmup``
    included), ``time`` as seconds or a duration like "5m". ``given``: the names the user
    actually chose (default: all of ``options``), kept for the resume rules. ``budgets``:
    the budgets the caller offers, named in the one-budget error.

    Returns the config and the given names as TrainConfig fields.
    """
    known = {f.name for f in fields(TrainConfig)}
    values: dict = {}
    for name, value in options.items():
        key = ALIASES.get(name, name)
        if key not in known:
            choices = ", ".join(sorted(known | set(ALIASES)))
            raise RnngenError(f"unknown training option {name!r}; known options: {choices}")
        if key == "time_s" and isinstance(value, str):
            value = parse_duration(value)
        values[key] = value
    chosen = [b for b in budgets if values.get(b) is not None]
    if len(chosen) > 1:
        names = [setting(_BUDGET_NAMES[b]) for b in budgets]
        raise RnngenError(f"give one budget: {', '.join(names[:-1])} or {names[-1]}")
    explicit = {ALIASES.get(n, n) for n in (options if given is None else given)}
    return TrainConfig(**values), explicit


# Each option's type (None, where allowed, means "choose for me"); the CLI's parser
# guarantees them, but the API and a resumed checkpoint's metadata do not.
_WHOLE_OR_NONE: tuple[str, ...] = ("vocab_size", "layers", "hidden", "embed", "seq_len", "batch_size")
_WHOLE_OR_NONE += ("warmup_steps", "steps", "eval_every", "eval_tokens", "threads", "patience")
_NUMBER = ("min_lr_frac", "weight_decay", "val_frac")
_NUMBER_OR_NONE = ("dropout", "lr", "epochs", "time_s", "clip")
_TEXT = ("level", "cell", "schedule", "device", "on_nan", "precision")
_TEXT_OR_NONE = ("optimizer",)
_CHOICES = {"level": ("char", "word", "bpe"), "cell": ("lstm", "gru", "rnn")}
# What the planner fills in: a resumed run, which is not planned again, needs every one.
PLANNED = ("layers", "hidden", "embed", "seq_len", "batch_size", "lr", "dropout", "optimizer", "clip", "tie")


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_types(c: TrainConfig) -> None:
    for name in _WHOLE_OR_NONE + _NUMBER + _NUMBER_OR_NONE + _TEXT + _TEXT_OR_NONE + ("seed", "tie", "val_file"):
        value = getattr(c, name)
        if name in _WHOLE_OR_NONE or name == "seed":
            ok = isinstance(value, int) and not isinstance(value, bool)
            kind = "a whole number"
        elif name in _NUMBER or name in _NUMBER_OR_NONE:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            kind = "a number"
        elif name == "tie":
            ok, kind = isinstance(value, bool), "true or false"
        else:
            ok, kind = isinstance(value, str), "text"
        if not ok and not (
            value is None and name in _WHOLE_OR_NONE + _NUMBER_OR_NONE + _TEXT_OR_NONE + ("val_file", "tie")
        ):
            raise RnngenError(f"{setting(name)} must be {kind}, not {_shown(value)}")
    for name, choices in _CHOICES.items():
        if getattr(c, name) not in choices:
            raise RnngenError(f"{setting(name)} must be {', '.join(choices[:-1])} or {choices[-1]}")
    if not -(2**63) <= c.seed < 2**64:  # what torch.manual_seed accepts
        raise RnngenError(f"{setting('seed')} is out of range")


def validate_config(c: TrainConfig) -> None:
    """Refuse settings no run can use, naming the setting."""
    _check_types(c)
    if c.vocab_size is not None and c.vocab_size < 1:
        raise RnngenError(f"{setting('vocab_size')} must be at least 1, not {c.vocab_size}")
    for name in (
        "steps",
        "layers",
        "hidden",
        "embed",
        "seq_len",
        "batch_size",
        "eval_every",
        "threads",
        "warmup_steps",
        "eval_tokens",
        "patience",
    ):
        value = getattr(c, name)
        if value is not None and value < (0 if name == "warmup_steps" else 1):
            raise RnngenError(f"{setting(name)} must be at least 1, not {value}")
    if c.epochs is not None and not c.epochs > 0:
        raise RnngenError(f"{setting('epochs')} must be more than 0, not {c.epochs}")
    if c.time_s is not None and not c.time_s > 0:
        raise RnngenError(f"{setting('time')} must be more than 0")
    if c.lr is not None and not (0 < c.lr <= MAX_LR):
        # Past ~1e30 AdamW's step size overflows float32 inside torch (a crash, not a divergence).
        raise RnngenError(f"{setting('lr')} must be a positive number up to {MAX_LR:g}, not {c.lr}")
    if c.clip is not None and not (c.clip >= 0 and math.isfinite(c.clip)):
        raise RnngenError(f"{setting('clip')} must be 0 (off) or more, not {c.clip}")
    if c.dropout is not None and not 0 <= c.dropout < 1:
        raise RnngenError(f"{setting('dropout')} must be in [0, 1), not {c.dropout}")
    if not (c.weight_decay >= 0 and math.isfinite(c.weight_decay)):
        raise RnngenError(f"{setting('weight_decay')} must be 0 or more, not {c.weight_decay}")
    if not 0 <= c.min_lr_frac <= 1:
        raise RnngenError(f"{setting('min_lr_frac')} must be in [0, 1], not {c.min_lr_frac}")
    if not 0 <= c.val_frac < 1:
        raise RnngenError(f"{setting('val_frac')} must be in [0, 1), not {c.val_frac}")
    if c.schedule not in ("cosine", "constant"):
        raise RnngenError(f"{setting('schedule')} must be cosine or constant")
    if c.on_nan not in ("stop", "skip"):
        raise RnngenError(f"{setting('on_nan')} must be stop or skip")
    if c.precision not in ("auto", "fp32", "bf16"):
        raise RnngenError(f"{setting('precision')} must be auto, fp32 or bf16")
    if c.device not in ("auto", "cpu", "cuda", "mps"):
        raise RnngenError(f"{setting('device')} must be auto, cpu, cuda or mps")
    if c.optimizer not in (None, "adamw", "sgd"):
        raise RnngenError(f"{setting('optimizer')} must be adamw or sgd")


def merge_resume_config(config: TrainConfig, saved_doc: dict, explicit: set[str]) -> TrainConfig:
    """The config of a resumed run: the checkpoint's, with what the user gave and may change.

    Shape and data layout cannot change (an error if given differently); dropout, the
    budget, the schedule, evaluation and the machine may. A new budget replaces the old
    one; the device always comes from this run.
    """
    if not isinstance(saved_doc, dict):
        raise RnngenError("the checkpoint's training settings (rnngen.train config) are malformed")
    saved = TrainConfig.from_json(saved_doc)
    if "optimizer" not in saved_doc:  # written before SGD existed: every such run used AdamW
        saved = replace(saved, optimizer="adamw")
    if "optimizer" in explicit and config.optimizer not in (None, saved.optimizer):
        raise RnngenError(
            f"{setting('optimizer')} {config.optimizer} differs from the checkpoint's {saved.optimizer}; "
            "the optimizer cannot change on resume (start a new run with --init-from)"
        )
    for name in SHAPE_OPTIONS:
        if name in explicit and getattr(config, name) != getattr(saved, name):
            raise RnngenError(
                f"{setting(name)} {getattr(config, name)} differs from the checkpoint's "
                f"{_shown(getattr(saved, name))}; the model shape and data layout cannot change on resume"
            )
    if "dropout" in explicit:
        saved = replace(saved, dropout=config.dropout)
    # Budget, learning rate, clipping, evaluation, threads and device may change.
    changeable = (
        "steps",
        "epochs",
        "time_s",
        "lr",
        "clip",
        "eval_every",
        "threads",
        "device",
        "on_nan",
        "warmup_steps",
        "weight_decay",
        "min_lr_frac",
        "schedule",
        "precision",
        "eval_tokens",
        "patience",
    )
    updates = {name: getattr(config, name) for name in changeable if name in explicit}
    # The device belongs to this machine, not the run: a GPU run resumes on a CPU-only one.
    updates["device"] = config.device
    if {"steps", "epochs", "time_s"} & set(updates):
        for budget in ("steps", "epochs", "time_s"):
            updates.setdefault(budget, None)
    if "val_frac" in explicit and config.val_frac != saved.val_frac:
        raise RnngenError(f"{setting('val_frac')} cannot change on resume (the validation text would change)")
    if "val_file" in explicit and config.val_file != saved.val_file:
        raise RnngenError(f"{setting('val_file')} cannot change on resume (the validation text would change)")
    merged = replace(saved, **updates)
    _validate_resumed(merged)
    return merged


def _validate_resumed(c: TrainConfig) -> None:
    """The merged config passes every rule of a fresh run, and has what planning would have
    filled in (a resumed run is not planned again). What the user gave was checked before
    merging, so a problem here is the checkpoint's."""
    try:
        validate_config(c)
        for name in PLANNED:
            if getattr(c, name) is None:
                raise RnngenError(f"{setting(name)} is missing")
        budgets = [b for b in BUDGETS if getattr(c, b) is not None]
        if len(budgets) != 1:
            names = [setting(_BUDGET_NAMES[b]) for b in BUDGETS]
            raise RnngenError(f"they hold {len(budgets)} budgets; give one: {', '.join(names[:-1])} or {names[-1]}")
    except RnngenError as exc:
        raise RnngenError(f"the checkpoint's training settings are invalid: {exc.marked}") from None
