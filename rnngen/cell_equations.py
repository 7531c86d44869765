"""The cell's equations for one unit at one step, with the numbers the probes recorded.

The probes (probes.py) record each gate *after* its nonlinearity. To show a learner where
a gate's value comes from, this module splits every pre-activation into the part the
input brings and the part the previous state brings, from the model's own weights and
the record's h and x:

    LSTM  i, f, g, o = σ, σ, tanh, σ of  (W_ih x_t + b_ih + b_hh)  +  (W_hh h_{t-1})
    GRU   r, z      = σ               of  (W_ih x_t + b_ih + b_hh)  +  (W_hh h_{t-1})
          n         = tanh            of  (W_in x_t + b_in)  +  r_t * (W_hn h_{t-1} + b_hn)
    RNN   h         = tanh            of  (W_ih x_t + b_ih + b_hh)  +  (W_hh h_{t-1})

x_t is the token's embedding for layer 1 and the layer below's h_t above it; h_{t-1} at
the record's first step is the zero state the probes start from. Applying the
nonlinearity to ``from_input + scale * from_state`` gives back the recorded gate (a unit
test checks it), and the values this module reports (gates, c, h) are the record's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rnngen.errors import RnngenError
from rnngen.model import GATE_NAMES, RNNLanguageModel
from rnngen.probes import InspectionRecord

# The symbol and nonlinearity of each gate, in torch's row order.
SYMBOLS = {"input": "i", "forget": "f", "cell": "g", "output": "o", "reset": "r", "update": "z", "new": "n", "h": "h_t"}
TANH_GATES = ("cell", "new")
RNN_GATE = "h"  # a plain RNN's one "gate": h_t itself


@dataclass(frozen=True)
class Parts:
    """The two parts of one gate's pre-activation, (steps, units) each."""

    from_input: np.ndarray  # W x_t + b
    from_state: np.ndarray  # W_h h_{t-1} (GRU n: W_hn h_{t-1} + b_hn)
    scale: np.ndarray  # what multiplies from_state: 1, or the GRU reset gate r_t for n

    @property
    def pre_activation(self) -> np.ndarray:
        return self.from_input + self.scale * self.from_state


def gate_names(cell: str) -> tuple[str, ...]:
    """The gates whose pre-activations ``pre_activation_parts`` splits (RNN: just "h")."""
    return GATE_NAMES[cell] or (RNN_GATE,)


def activate(gate: str, pre: np.ndarray | float) -> np.ndarray:
    """The gate's nonlinearity: tanh for the LSTM candidate g, GRU n and the RNN's h; σ otherwise."""
    x = np.asarray(pre, dtype=np.float64)
    if gate in TANH_GATES or gate == RNN_GATE:
        return np.tanh(x)
    return 1.0 / (1.0 + np.exp(-x))


def _check(model: RNNLanguageModel, record: InspectionRecord, layer: int) -> None:
    cfg = model.config
    if (cfg.cell, cfg.layers, cfg.hidden) != (record.cell, record.layers, record.hidden_size):
        raise RnngenError("the inspection record was made by another model")
    if not 0 <= layer < record.layers:
        raise RnngenError(f"layer must be between 1 and {record.layers}")


def _weights(model: RNNLanguageModel, layer: int) -> tuple[np.ndarray, ...]:
    rnn = model.rnn
    return tuple(
        getattr(rnn, f"{name}_l{layer}").detach().double().cpu().numpy()
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )


def layer_inputs(
    model: RNNLanguageModel, record: InspectionRecord, layer: int, steps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """x_t and h_{t-1} of ``layer`` at ``steps``, (S, E or H) and (S, H), as float64."""
    if layer == 0:
        ids = np.asarray(record.token_ids, dtype=np.int64)[steps]
        x = model.embedding.weight.detach().double().cpu().numpy()[ids]
    else:
        x = record.hidden[layer - 1][steps].astype(np.float64)
    h = record.hidden[layer].astype(np.float64)
    h_prev = np.where((steps > 0)[:, None], h[np.maximum(steps - 1, 0)], 0.0)
    return x, h_prev


def pre_activation_parts(
    model: RNNLanguageModel,
    record: InspectionRecord,
    layer: int,
    *,
    steps: Sequence[int] | np.ndarray | None = None,
    units: Sequence[int] | np.ndarray | None = None,
) -> dict[str, Parts]:
    """Gate name -> its pre-activation's parts at ``steps`` x ``units`` (default: all).

    Only the weight rows of the chosen units are read, so one unit at two steps costs a
    few dot products: cheap enough to run on every key press.
    """
    _check(model, record, layer)
    T, H = record.num_tokens, record.hidden_size
    step_idx = np.arange(T) if steps is None else np.asarray(steps, dtype=np.int64)
    unit_idx = np.arange(H) if units is None else np.asarray(units, dtype=np.int64)
    if step_idx.size and (step_idx.min() < 0 or step_idx.max() >= T):
        raise RnngenError(f"step must be between 1 and {T}")
    if unit_idx.size and (unit_idx.min() < 0 or unit_idx.max() >= H):
        raise RnngenError(f"unit must be between 0 and {H - 1}")
    w_ih, w_hh, b_ih, b_hh = _weights(model, layer)
    x, h_prev = layer_inputs(model, record, layer, step_idx)
    ones = np.ones((step_idx.size, unit_idx.size))
    parts: dict[str, Parts] = {}
    for block, gate in enumerate(gate_names(record.cell)):
        rows = block * H + unit_idx
        from_x = x @ w_ih[rows].T + b_ih[rows]
        from_h = h_prev @ w_hh[rows].T
        if record.cell == "gru" and gate == "new":
            # n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): b_hn is inside the reset gate's reach.
            reset = record.gates[layer]["reset"][np.ix_(step_idx, unit_idx)].astype(np.float64)
            parts[gate] = Parts(from_x, from_h + b_hh[rows], reset)
        else:
            parts[gate] = Parts(from_x + b_hh[rows], from_h, ones)
    return parts


@dataclass(frozen=True)
class GateTerms:
    """One gate of one unit at one step: its parts and its recorded value."""

    gate: str  # record name: "input", ..., or "h" for a plain RNN
    symbol: str  # "i", "f", ...
    nonlinearity: str  # "σ" | "tanh"
    from_input: float
    from_state: float
    scale: float  # 1, or r_t (GRU n)
    value: float  # the recorded activation

    @property
    def pre_activation(self) -> float:
        return self.from_input + self.scale * self.from_state


@dataclass(frozen=True)
class UnitStep:
    """Everything the equation view shows for one unit at one step (of the record)."""

    cell: str
    layer: int
    unit: int
    step: int  # index into the record
    gates: tuple[GateTerms, ...]
    h: float
    h_prev: float  # 0 at the record's first step
    c: float | None  # LSTM only
    c_prev: float | None

    def gate(self, name: str) -> GateTerms:
        return next(g for g in self.gates if g.gate == name)


def unit_step(model: RNNLanguageModel, record: InspectionRecord, *, layer: int, unit: int, step: int) -> UnitStep:
    """The equations' numbers for ``unit`` of ``layer`` at record step ``step``."""
    parts = pre_activation_parts(model, record, layer, steps=[step], units=[unit])
    terms = []
    for gate, p in parts.items():
        if gate == RNN_GATE:
            value = float(record.hidden[layer][step, unit])
        else:
            value = float(record.gates[layer][gate][step, unit])
        terms.append(
            GateTerms(
                gate=gate,
                symbol=SYMBOLS.get(gate, gate),
                nonlinearity="tanh" if gate in TANH_GATES or gate == RNN_GATE else "σ",
                from_input=float(p.from_input[0, 0]),
                from_state=float(p.from_state[0, 0]),
                scale=float(p.scale[0, 0]),
                value=value,
            )
        )
    hidden = record.hidden[layer][:, unit]
    cells = record.cell_state[layer][:, unit] if record.cell_state is not None else None
    return UnitStep(
        cell=record.cell,
        layer=layer,
        unit=unit,
        step=step,
        gates=tuple(terms),
        h=float(hidden[step]),
        h_prev=float(hidden[step - 1]) if step > 0 else 0.0,
        c=float(cells[step]) if cells is not None else None,
        c_prev=(float(cells[step - 1]) if step > 0 else 0.0) if cells is not None else None,
    )
