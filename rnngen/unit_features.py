"""Which units track which features of a text: the engine of ``rnngen units``.

Runs a model over a text (``unit_states.py``), computes features of the text at every
token (``text_features.py``), and ranks every unit (h of every layer, and c for an
LSTM) per feature by the absolute Pearson correlation |r| between the unit's value and
the feature. For a binary feature (inside quotes, upper case...) the best units also
get a one-unit logistic probe: fitted on the first ``PROBE_SPLIT`` of the tokens,
scored on the rest, and reported beside the feature's base rate (the accuracy of
always guessing the commoner answer on that same held-out part). A probe that does
not beat the base rate has found nothing.

Units that are constant, never active or saturated would only add noise (a unit that
varies by 1e-7 can correlate with anything), so they are left out of the ranking and
listed in ``UnitsReport.inactive`` with the reason.

API (what the CLI and the TUI use)::

    report = rank_units(model, tokenizer, text, max_tokens=200_000, extra={"def": r"\\bdef\\b"},
                        top=5, layers=None)        # runs the model (batched, no gradients)
    report = rank_record(record, tokenizer, extra=..., top=5)   # an InspectionRecord's states
    report.features       # [FeatureRanking], in feature order
    report.feature("in_quotes").units   # (UnitScore, ...) best first
    score.layer, score.state, score.unit, score.r, score.probe_acc   # layer and unit from 0
    report.feature_values["in_quotes"]  # the feature per token, (T,) float64
    report.inactive       # [InactiveUnit(layer, state, unit, reason, share)]
    report.to_json()      # JSON-ready dict (layer and unit counted from 0)

``layers`` counts from 0, like ``InspectionRecord.hidden[k]``; the CLI's ``--layer``
counts from 1. No UI imports here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rnngen.errors import RnngenError
from rnngen.model import RNNLanguageModel
from rnngen.probes import InspectionRecord, encode_text
from rnngen.text_features import Feature, text_features
from rnngen.tokenizers import Tokenizer, display_pieces
from rnngen.unit_states import Chunk, StateKey, stream_layout, unit_states

MAX_TOKENS = 200_000
TOP = 5
PROBE_SPLIT = 0.7  # the probe fits on the first 70% of tokens and is scored on the rest
MIN_STD = 1e-3  # below this a unit is constant
ACTIVE = 0.05  # |value| below this: not active
SATURATED = 0.99  # |h| (or |tanh c|) above this: saturated
C_SATURATED = float(np.arctanh(SATURATED))
MOSTLY = 0.99  # "never active" / "saturated": on at least this share of tokens
PROBE_ITERATIONS = 50
PROBE_BINS = 512
JSON_DECIMALS = 4


@dataclass(frozen=True)
class UnitScore:
    """How well one unit tracks one feature."""

    layer: int  # from 0
    state: str  # "h" | "c"
    unit: int  # from 0
    r: float  # Pearson correlation with the feature
    probe_acc: float | None = None  # binary features: held-out accuracy of a one-unit logistic probe

    @property
    def label(self) -> str:
        """'L1 h#37' (layer from 1, as printed; unit from 0, as indexed)."""
        return f"L{self.layer + 1} {self.state}#{self.unit}"

    def to_json(self) -> dict:
        doc = {"layer": self.layer, "state": self.state, "unit": self.unit, "r": _round(self.r)}
        if self.probe_acc is not None:
            doc["probe_acc"] = _round(self.probe_acc)
        return doc


@dataclass(frozen=True)
class FeatureRanking:
    """One feature and the units that track it best."""

    name: str
    kind: str  # "binary" | "numeric"
    description: str
    mean: float  # binary: the share of tokens where the feature holds
    std: float
    units: tuple[UnitScore, ...]  # best |r| first; empty when the feature is constant here
    base_rate: float | None = None  # binary: accuracy of always guessing the commoner value, held-out part

    @property
    def constant(self) -> bool:
        return self.std == 0.0

    def to_json(self) -> dict:
        doc = {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "mean": _round(self.mean),
            "std": _round(self.std),
            "constant": self.constant,
            "units": [u.to_json() for u in self.units],
        }
        if self.kind == "binary":
            doc["base_rate"] = _round(self.base_rate)
        return doc


@dataclass(frozen=True)
class InactiveUnit:
    """A unit left out of the ranking, and why."""

    layer: int
    state: str
    unit: int
    reason: str  # "constant" | "never active" | "saturated"
    share: float  # never active / saturated: share of tokens; constant: the unit's std

    def to_json(self) -> dict:
        return {
            "layer": self.layer,
            "state": self.state,
            "unit": self.unit,
            "reason": self.reason,
            "share": _round(self.share),
        }


@dataclass
class UnitsReport:
    """Every feature's best units, and the units left out."""

    cell: str
    layers: int
    hidden: int
    level: str
    tokens: int  # tokens read
    truncated: bool  # the text goes on beyond them (cut at max_tokens)
    streams: int  # stretches read side by side (1: one pass, states equal the probes')
    ranked_units: int
    features: list[FeatureRanking]
    inactive: list[InactiveUnit]
    unknown: list[str] = field(default_factory=list)  # word level: words read as <unk>
    feature_values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def feature(self, name: str) -> FeatureRanking:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_json(self) -> dict:
        return {
            "model": {"cell": self.cell, "layers": self.layers, "hidden": self.hidden},
            "level": self.level,
            "tokens": self.tokens,
            "truncated": self.truncated,
            "streams": self.streams,
            "ranked_units": self.ranked_units,
            "probe": {"split": PROBE_SPLIT},
            "features": [f.to_json() for f in self.features],
            "inactive": [u.to_json() for u in self.inactive],
        }


def _round(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), JSON_DECIMALS)


# ---- entry points -----------------------------------------------------------------------


def rank_units(
    model: RNNLanguageModel,
    tokenizer: Tokenizer,
    text: str,
    *,
    max_tokens: int = MAX_TOKENS,
    extra: Mapping[str, str | re.Pattern] | None = None,
    top: int = TOP,
    layers: Sequence[int] | None = None,
) -> UnitsReport:
    """Read the first ``max_tokens`` tokens of ``text`` with ``model`` and rank its units."""
    if max_tokens < 1:
        raise RnngenError("max-tokens must be at least 1")
    ids, unknown, truncated = _first_tokens(tokenizer, text, max_tokens)
    layers = _check_layers(model.config.layers, layers)
    features = text_features(display_pieces(tokenizer, ids), extra, level=tokenizer.level)
    streams = stream_layout(ids.size)[0].shape[0]
    model = model.eval()
    rankings, inactive, ranked = rank_states(
        lambda: unit_states(model, ids, layers=layers), features, ids.size, top=top
    )
    cfg = model.config
    return UnitsReport(
        cell=cfg.cell,
        layers=cfg.layers,
        hidden=cfg.hidden,
        level=tokenizer.level,
        tokens=int(ids.size),
        truncated=truncated,
        streams=streams,
        ranked_units=ranked,
        features=rankings,
        inactive=inactive,
        unknown=unknown,
        feature_values={f.name: f.values for f in features},
    )


def rank_record(
    record: InspectionRecord,
    tokenizer: Tokenizer,
    *,
    extra: Mapping[str, str | re.Pattern] | None = None,
    top: int = TOP,
    layers: Sequence[int] | None = None,
) -> UnitsReport:
    """Rank the units of an ``InspectionRecord`` (no second run: the probes' own numbers)."""
    layers = _check_layers(record.layers, layers)
    features = text_features(display_pieces(tokenizer, record.token_ids), extra, level=tokenizer.level)
    states: dict[StateKey, np.ndarray] = {}
    for k in layers:
        states[(k, "h")] = record.hidden[k]
        if record.cell_state is not None:
            states[(k, "c")] = record.cell_state[k]
    T = record.num_tokens
    chunk: Chunk = (np.arange(T), states)
    rankings, inactive, ranked = rank_states(lambda: iter([chunk]), features, T, top=top)
    return UnitsReport(
        cell=record.cell,
        layers=record.layers,
        hidden=record.hidden_size,
        level=tokenizer.level,
        tokens=T,
        truncated=False,
        streams=1,
        ranked_units=ranked,
        features=rankings,
        inactive=inactive,
        unknown=list(record.unknown),
        feature_values={f.name: f.values for f in features},
    )


def _check_layers(count: int, layers: Sequence[int] | None) -> list[int]:
    if layers is None:
        return list(range(count))
    if not layers:
        raise RnngenError("no layers given to rank")
    bad = [k for k in layers if not 0 <= k < count]
    if bad:
        raise RnngenError(f"the model has {count} layer(s); there is no layer {bad[0] + 1}")
    return sorted(set(layers))


def _first_tokens(tokenizer: Tokenizer, text: str, max_tokens: int) -> tuple[np.ndarray, list[str], bool]:
    """The first ``max_tokens`` token ids of ``text``, the unknown words among them, and
    whether the text goes on beyond them.

    Only a prefix of a long text is encoded: a character is one token, and a word or
    BPE token is rarely over 16 characters (if it is, the whole text is encoded).
    """
    prefix = text[: max_tokens if tokenizer.level == "char" else max_tokens * 16]
    ids, unknown = encode_text(tokenizer, prefix)
    if ids.size < max_tokens and len(prefix) < len(text):
        prefix = text
        ids, unknown = encode_text(tokenizer, text)
    truncated = ids.size > max_tokens or len(prefix) < len(text)
    return ids[:max_tokens], unknown, truncated


# ---- the ranking ------------------------------------------------------------------------


class _Sums:
    """Running sums over the chunks of one (layer, state) block.

    The features come standardised (mean 0, std 1 over the whole text), so the sum of
    unit x feature products is the covariance itself: no large numbers to subtract.
    """

    def __init__(self, hidden: int, features: int):
        self.n = 0
        self.s1 = np.zeros(hidden)
        self.s2 = np.zeros(hidden)
        self.sz = np.zeros((hidden, features))
        self.quiet = np.zeros(hidden)
        self.saturated = np.zeros(hidden)

    def add(self, values: np.ndarray, z: np.ndarray, state: str) -> None:
        a = values.astype(np.float32, copy=False)
        self.n += a.shape[0]
        self.s1 += a.sum(0, dtype=np.float64)
        self.s2 += np.square(a).sum(0, dtype=np.float64)
        self.sz += a.T @ z
        magnitude = np.abs(a)
        self.quiet += (magnitude < ACTIVE).sum(0)
        # |tanh c| > SATURATED is |c| > atanh(SATURATED)
        self.saturated += (magnitude > (C_SATURATED if state == "c" else SATURATED)).sum(0)


def rank_states(
    source: Callable[[], Iterable[Chunk]], features: list[Feature], n: int, *, top: int = TOP
) -> tuple[list[FeatureRanking], list[InactiveUnit], int]:
    """Rank the units whose states ``source()`` yields against ``features`` of ``n`` tokens.

    ``source`` is called twice: the probes need a second look at the best units. Returns
    the rankings (in feature order), the units left out, and how many units were ranked.
    """
    if top < 1:
        raise RnngenError("top must be at least 1")
    F = np.stack([f.values for f in features], 1) if features else np.zeros((n, 0))
    f_mean, f_std = F.mean(0), F.std(0)
    Z = ((F - f_mean) / np.where(f_std > 0, f_std, 1.0)).astype(np.float32)
    sums: dict[StateKey, _Sums] = {}
    for positions, states in source():
        z = Z[positions]
        for key, values in states.items():
            if key not in sums:
                sums[key] = _Sums(values.shape[1], F.shape[1])
            sums[key].add(values, z, key[1])
    inactive: list[InactiveUnit] = []
    columns: list[tuple[StateKey, int]] = []
    r_blocks: list[np.ndarray] = []
    for key in sorted(sums, key=lambda k: (k[0], k[1] != "h")):  # layer by layer, h before c
        s = sums[key]
        mean = s.s1 / s.n
        std = np.sqrt(np.maximum(s.s2 / s.n - mean**2, 0.0))
        keep = np.ones(len(mean), dtype=bool)
        for unit in range(len(mean)):
            reason = _inactive_reason(std[unit], s.quiet[unit] / s.n, s.saturated[unit] / s.n)
            if reason is not None:
                share = std[unit] if reason[0] == "constant" else reason[1]
                inactive.append(InactiveUnit(key[0], key[1], unit, reason[0], float(share)))
                keep[unit] = False
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (s.sz / s.n) / std[:, None]
        r_blocks.append(r[keep])
        columns += [(key, int(u)) for u in np.flatnonzero(keep)]
    r_all = np.concatenate(r_blocks, 0) if r_blocks else np.zeros((0, len(features)))
    chosen: list[list[int]] = []
    for j, _ in enumerate(features):
        if f_std[j] == 0.0 or not columns:
            chosen.append([])
            continue
        order = np.argsort(-np.abs(np.nan_to_num(r_all[:, j])), kind="stable")
        chosen.append(order[:top].tolist())
    probe_values = _gather(source, {columns[i] for j, f in enumerate(features) if f.is_binary for i in chosen[j]}, n)
    split = int(n * PROBE_SPLIT)
    rankings = []
    for j, feature in enumerate(features):
        y = feature.values
        scores = []
        for i in chosen[j]:
            (layer, state), unit = columns[i]
            acc = _probe(probe_values[columns[i]], y, split) if feature.is_binary else None
            scores.append(UnitScore(layer, state, unit, float(r_all[i, j]), acc))
        base = None
        if feature.is_binary and split < n:
            held = y[split:].mean()
            base = float(max(held, 1.0 - held))
        rankings.append(
            FeatureRanking(
                feature.name, feature.kind, feature.description, float(f_mean[j]), float(f_std[j]), tuple(scores), base
            )
        )
    return rankings, inactive, len(columns)


def _inactive_reason(std: float, quiet: float, saturated: float) -> tuple[str, float] | None:
    if std < MIN_STD:
        return ("constant", std)
    if quiet >= MOSTLY:
        return ("never active", quiet)
    if saturated >= MOSTLY:
        return ("saturated", saturated)
    return None


def _gather(
    source: Callable[[], Iterable[Chunk]], wanted: set[tuple[StateKey, int]], n: int
) -> dict[tuple[StateKey, int], np.ndarray]:
    """The values of the ``wanted`` units at every token (a second pass over the source)."""
    out = {w: np.zeros(n) for w in wanted}
    if not wanted:
        return out
    for positions, states in source():
        for (key, unit), values in out.items():
            values[positions] = states[key][:, unit]
    return out


def _probe(x: np.ndarray, y: np.ndarray, split: int) -> float | None:
    """Held-out accuracy of a logistic regression y ~ sigmoid(w x + b), fitted on [:split].

    One input, so the fit runs on a histogram of the training part (``PROBE_BINS`` bins
    of x, with the count and the positives in each): the same fit up to the bin width,
    at a cost that does not grow with the text. The held-out part is scored exactly.
    """
    if split < 1 or split >= len(x):
        return None
    xt, yt = x[:split], y[:split]
    lo, hi = (float(q) for q in np.quantile(xt, [0.001, 0.999]))  # a few outliers don't widen the bins
    if hi <= lo:
        lo, hi = float(xt.min()), float(xt.max())
    width = (hi - lo) or 1.0
    bins = np.clip(((xt - lo) / width * PROBE_BINS).astype(np.int64), 0, PROBE_BINS - 1)
    count = np.bincount(bins, minlength=PROBE_BINS).astype(np.float64)
    positive = np.bincount(bins, weights=yt, minlength=PROBE_BINS)
    z = (np.arange(PROBE_BINS) + 0.5) / PROBE_BINS * 2.0 - 1.0  # bin centres, scaled to [-1, 1]
    w = b = 0.0
    ridge = 1e-3 * split  # keeps w and b finite when the training part has one class only
    for _ in range(PROBE_ITERATIONS):
        p = 1.0 / (1.0 + np.exp(-(w * z + b)))
        g = count * p - positive
        v = count * p * (1.0 - p)
        grad = np.array([g @ z + ridge * w, g.sum() + ridge * b])
        hess = np.array([[v @ (z * z) + ridge, v @ z], [v @ z, v.sum() + ridge]])
        step = np.linalg.solve(hess, grad)
        w, b = w - step[0], b - step[1]
        if np.abs(step).max() < 1e-6:
            break
    zv = (x[split:] - lo) / width * 2.0 - 1.0
    guess = (w * zv + b) > 0
    return float(np.mean(guess == (y[split:] > 0.5)))
