"""cell_equations: the input and previous-state parts of every pre-activation add up to
what the probes recorded, and the cell's equations hold with the recorded numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnngen.cell_equations import activate, gate_names, pre_activation_parts, unit_step
from rnngen.errors import RnngenError
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.probes import inspect_ids

CELLS = ("lstm", "gru", "rnn")
ATOL = 2e-6  # float32 record against float64 parts


def tiny_model(cell: str, *, layers: int = 2, hidden: int = 12, seed: int = 0) -> RNNLanguageModel:
    torch.manual_seed(seed)
    model = RNNLanguageModel(ModelConfig(cell=cell, vocab_size=10, embed=6, hidden=hidden, layers=layers))
    with torch.no_grad():  # large, varied weights and biases: no part is negligible
        for name, p in model.rnn.named_parameters():
            p.normal_(0, 0.8 if name.startswith("bias") else 0.5)
    return model.eval()


def record_for(model: RNNLanguageModel, n: int = 25):
    ids = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(3))
    return inspect_ids(model, ids)


@pytest.mark.parametrize("cell", CELLS)
def test_parts_sum_to_the_recorded_pre_activations(cell):
    model = tiny_model(cell)
    record = record_for(model)
    for layer in range(record.layers):
        parts = pre_activation_parts(model, record, layer)
        assert tuple(parts) == gate_names(cell)
        for gate, p in parts.items():
            recorded = record.hidden[layer] if gate == "h" else record.gates[layer][gate]
            assert p.from_input.shape == p.from_state.shape == recorded.shape
            np.testing.assert_allclose(activate(gate, p.pre_activation), recorded, atol=ATOL)
            # Both parts matter: dropping either breaks the sum (the test can fail).
            assert not np.allclose(activate(gate, p.from_input), recorded, atol=1e-3)
            assert not np.allclose(activate(gate, p.scale * p.from_state), recorded, atol=1e-3)
        # The first step reads the zero state: nothing from the state but the GRU's b_hn.
        if cell != "gru":
            assert all(np.all(p.from_state[0] == 0) for p in parts.values())


@pytest.mark.parametrize("cell", CELLS)
def test_unit_step_is_the_record_and_the_equations_hold(cell):
    model = tiny_model(cell)
    record = record_for(model)
    layer, unit = 1, 5
    whole = pre_activation_parts(model, record, layer)
    for step in (0, 1, 17, record.num_tokens - 1):
        u = unit_step(model, record, layer=layer, unit=unit, step=step)
        assert (u.layer, u.unit, u.step, u.cell) == (layer, unit, step, cell)
        assert u.h == record.hidden[layer][step, unit]
        assert u.h_prev == (record.hidden[layer][step - 1, unit] if step else 0.0)
        for g in u.gates:
            assert g.from_input == pytest.approx(whole[g.gate].from_input[step, unit], abs=1e-12)
            assert g.from_state == pytest.approx(whole[g.gate].from_state[step, unit], abs=1e-12)
            assert float(activate(g.gate, g.pre_activation)) == pytest.approx(g.value, abs=ATOL)
        if cell == "lstm":
            i, f, c_hat, o = (u.gate(n).value for n in ("input", "forget", "cell", "output"))
            assert u.c == record.cell_state[layer][step, unit]
            assert u.c == pytest.approx(f * u.c_prev + i * c_hat, abs=ATOL)
            assert u.h == pytest.approx(o * np.tanh(u.c), abs=ATOL)
            assert [g.symbol for g in u.gates] == ["i", "f", "g", "o"]
            assert [g.nonlinearity for g in u.gates] == ["σ", "σ", "tanh", "σ"]
        elif cell == "gru":
            r, z, n = (u.gate(x) for x in ("reset", "update", "new"))
            assert n.scale == r.value and u.c is None
            assert u.h == pytest.approx((1 - z.value) * n.value + z.value * u.h_prev, abs=ATOL)
        else:
            assert [g.symbol for g in u.gates] == ["h_t"] and u.gates[0].value == u.h


def test_a_record_of_another_model_or_a_step_outside_it_is_an_error():
    model = tiny_model("lstm")
    record = record_for(tiny_model("gru"))
    with pytest.raises(RnngenError, match="another model"):
        pre_activation_parts(model, record, 0)
    record = record_for(model, n=5)
    with pytest.raises(RnngenError, match="step"):
        unit_step(model, record, layer=0, unit=0, step=5)
    with pytest.raises(RnngenError, match="layer"):
        unit_step(model, record, layer=2, unit=0, step=0)
