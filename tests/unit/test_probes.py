"""The inspect path (rnngen.probes): same numbers as the fast paths, and the right physics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnngen.errors import RnngenError
from rnngen.model import GATE_NAMES, ModelConfig, RNNLanguageModel
from rnngen.probe_stats import gate_saturation, grad_decay_per_step, grad_decay_ratio, most_active_units
from rnngen.probes import inspect_ids, inspect_text, sample_with_details
from rnngen.sampling import SamplingConfig, StepModel, generate
from rnngen.tokenizers import CharTokenizer, WordTokenizer, display_pieces

CELLS = ("lstm", "gru", "rnn")


def tiny_model(cell: str, *, layers: int = 2, hidden: int = 16, vocab: int = 12, seed: int = 0) -> RNNLanguageModel:
    torch.manual_seed(seed)
    model = RNNLanguageModel(ModelConfig(cell=cell, vocab_size=vocab, embed=8, hidden=hidden, layers=layers))
    with torch.no_grad():  # break the symmetry of the zero-initialised head bias
        model.head.bias.normal_(0, 0.1)
    return model.eval()


def random_ids(n: int, vocab: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed))


# ---- the inspect path computes what the fast paths compute ---------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_inspect_logits_equal_fused_and_step_paths(cell):
    model = tiny_model(cell)
    ids = random_ids(40)
    record = inspect_ids(model, ids, keep_logits=True)
    with torch.no_grad():
        fused, (h_last, *rest) = model(ids[None])
    np.testing.assert_allclose(record.logits, fused[0].numpy(), atol=1e-5)
    stepper = StepModel(model)
    state = stepper.init_state(1)
    steps = []
    for token in ids:
        logits, state = stepper.step(token[None], state)
        steps.append(logits[0])
    np.testing.assert_allclose(record.logits, torch.stack(steps).numpy(), atol=1e-5)
    # The recorded states are the fused path's states too.
    for k in range(model.config.layers):
        np.testing.assert_allclose(record.hidden[k][-1], h_last[k, 0].numpy(), atol=1e-5)
    if cell == "lstm":
        np.testing.assert_allclose(record.cell_state[-1][-1], rest[0][-1, 0].numpy(), atol=1e-5)
    with torch.no_grad():
        top_out, _ = model.rnn(model.embedding(ids[None]))
    np.testing.assert_allclose(record.hidden[-1], top_out[0].numpy(), atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(cell=st.sampled_from(CELLS), ids=st.lists(st.integers(0, 11), min_size=1, max_size=25))
def test_inspect_logits_equal_fused_for_any_text(cell, ids):
    model = tiny_model(cell, layers=1, hidden=8)
    record = inspect_ids(model, ids, keep_logits=True)
    with torch.no_grad():
        fused, _ = model(torch.tensor([ids]))
    np.testing.assert_allclose(record.logits, fused[0].numpy(), atol=1e-5)
    assert len(record.token_probs) == len(ids) and record.token_probs[0] is None


def test_inspect_starting_from_a_state_continues_the_text():
    model = tiny_model("lstm")
    ids = random_ids(30)
    whole = inspect_ids(model, ids, keep_logits=True)
    with torch.no_grad():
        _, state = model(ids[None, :18])
    tail = inspect_ids(model, ids[18:], state=state, keep_logits=True)
    np.testing.assert_allclose(tail.logits, whole.logits[18:], atol=1e-5)


def test_inspect_ignores_dropout_and_leaves_parameters_alone():
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(cell="lstm", vocab_size=12, embed=8, hidden=16, layers=2, dropout=0.5))
    model.train()
    ids = random_ids(20)
    record = inspect_ids(model, ids, keep_logits=True)
    model.eval()
    with torch.no_grad():
        fused, _ = model(ids[None])
    np.testing.assert_allclose(record.logits, fused[0].numpy(), atol=1e-5)
    assert all(p.grad is None for p in model.parameters())


def test_gates_are_the_documented_activations():
    model = tiny_model("lstm", layers=1)
    ids = random_ids(12)
    r = inspect_ids(model, ids)
    g = r.gates[0]
    assert tuple(g) == GATE_NAMES["lstm"]
    # c_t = f * c_{t-1} + i * g and h_t = o * tanh(c_t), step by step.
    c_prev = np.zeros(16, dtype=np.float32)
    for t in range(len(ids)):
        c = g["forget"][t] * c_prev + g["input"][t] * g["cell"][t]
        np.testing.assert_allclose(r.cell_state[0][t], c, atol=1e-6)
        np.testing.assert_allclose(r.hidden[0][t], g["output"][t] * np.tanh(c), atol=1e-6)
        c_prev = c
    for name in ("input", "forget", "output"):
        assert ((g[name] > 0) & (g[name] < 1)).all()
    gru = inspect_ids(tiny_model("gru", layers=1), ids)
    assert tuple(gru.gates[0]) == GATE_NAMES["gru"]
    h_prev = np.zeros(16, dtype=np.float32)
    for t in range(len(ids)):
        z, n = gru.gates[0]["update"][t], gru.gates[0]["new"][t]
        np.testing.assert_allclose(gru.hidden[0][t], (1 - z) * n + z * h_prev, atol=1e-6)
        h_prev = gru.hidden[0][t]
    assert inspect_ids(tiny_model("rnn", layers=1), ids).gates == [{}]


# ---- gradient through time --------------------------------------------------------------


def test_gradient_of_the_last_loss_at_the_last_scored_step_is_the_head_gradient():
    model = tiny_model("gru", layers=1)
    ids = random_ids(10)
    r = inspect_ids(model, ids, keep_logits=True)
    # h_{T-2} reaches the loss of the last token only through the head: dL/dh = W^T (p - y).
    p = torch.softmax(torch.from_numpy(r.logits[-2]), -1)
    y = torch.zeros_like(p)
    y[ids[-1]] = 1
    expected = model.head.weight.detach().t() @ (p - y)
    assert r.grad_through_time[0][-2] == pytest.approx(float(expected.norm()), rel=1e-4)
    assert r.grad_through_time[0][-1] == 0.0  # the last state predicts nothing that is scored
    assert r.loss_value == pytest.approx(float(-torch.log(p[ids[-1]])), rel=1e-5)


def test_tanh_rnn_with_small_recurrent_weights_forgets_the_start_of_the_window():
    model = tiny_model("rnn", layers=1)
    with torch.no_grad():
        model.rnn.weight_hh_l0.mul_(0.3)
    r = inspect_ids(model, random_ids(40))
    g = r.grad_through_time[0]
    ratio = grad_decay_ratio(g)
    assert ratio is not None and ratio < 1e-8
    assert g[0] < 1e-6 * g[-10]  # keeps shrinking far from the end, not just one step back
    assert grad_decay_per_step(g) < 0.7


def test_lstm_with_a_large_forget_bias_keeps_the_gradient_alive():
    model = tiny_model("lstm", layers=1)
    H = model.config.hidden
    with torch.no_grad():
        model.rnn.bias_ih_l0[H : 2 * H].fill_(5.0)
        model.rnn.bias_hh_l0[H : 2 * H].fill_(0.0)
    r = inspect_ids(model, random_ids(40))
    g = r.grad_through_time[0]
    assert grad_decay_ratio(g) > 1e-3
    assert g[0] > 0.3 * g[-10]  # flat far from the end: memory carries the gradient
    assert (r.gates[0]["forget"] > 0.99).mean() > 0.9


def test_mean_loss_sends_gradient_to_every_scored_step():
    r = inspect_ids(tiny_model("lstm"), random_ids(20), loss="mean")
    for g in r.grad_through_time:
        assert (g[:-1] > 0).all() and g[-1] == 0.0
    assert r.loss == "mean" and r.loss_value > 0


def test_one_token_has_no_loss_and_no_gradient():
    r = inspect_ids(tiny_model("rnn"), [3])
    assert r.loss_value is None and r.token_probs == [None]
    assert all((g == 0).all() for g in r.grad_through_time)
    assert r.grad_decay() == [None, None]
    json.dumps(r.to_json(), allow_nan=False)


# ---- helpers on plain data --------------------------------------------------------------


def test_gate_saturation_on_a_crafted_case():
    values = np.array([[0.05, 0.5, 0.95], [0.05, 0.95, 0.95], [0.5, 0.95, 0.95], [0.02, 0.05, 0.99]])
    low, high = gate_saturation(values)
    np.testing.assert_allclose(low, [0.75, 0.25, 0.0])
    np.testing.assert_allclose(high, [0.0, 0.5, 1.0])
    low, high = gate_saturation(np.array([[0.1, 0.9]]))  # the thresholds themselves are not saturated
    assert low.tolist() == [0.0, 0.0] and high.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError):
        gate_saturation(np.zeros(3))


def test_record_saturation_matches_its_gates():
    r = inspect_ids(tiny_model("gru"), random_ids(25))
    sat = r.saturation()
    assert [tuple(layer) for layer in sat] == [("reset", "update")] * 2
    low, high = sat[1]["update"]
    np.testing.assert_allclose(low, (r.gates[1]["update"] < 0.1).mean(0))
    np.testing.assert_allclose(high, (r.gates[1]["update"] > 0.9).mean(0))


def test_decay_ratio_and_active_units():
    assert grad_decay_ratio([0.001, 0.01, 0.1, 1.0, 0.0]) == pytest.approx(0.001)
    assert grad_decay_per_step([0.001, 0.01, 0.1, 1.0, 0.0]) == pytest.approx(0.1)
    assert grad_decay_ratio([0.0, 0.0]) is None and grad_decay_ratio([1.0]) is None
    h = np.array([[0.1, -0.9, 0.0], [0.1, -0.7, 0.5]])
    assert most_active_units(h, 2) == [(1, pytest.approx(0.8)), (2, pytest.approx(0.25))]


# ---- the JSON record --------------------------------------------------------------------


def _numbers(doc):
    if isinstance(doc, bool):
        return
    if isinstance(doc, (int, float)):
        yield doc
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from _numbers(v)
    elif isinstance(doc, (list, tuple)):
        for v in doc:
            yield from _numbers(v)


@pytest.mark.parametrize("cell", CELLS)
def test_json_record_is_finite_and_shaped(cell):
    tok = CharTokenizer.fit("abcdefghij ,.\n")
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(cell=cell, vocab_size=tok.vocab_size, embed=8, hidden=16, layers=2))
    with torch.no_grad():  # a hostile model: huge recurrent weights saturate everything
        model.rnn.weight_hh_l0.mul_(50)
    text = "abc, def.\nghij " * 3
    doc = json.loads(json.dumps(inspect_text(model, tok, text, top_k=3).to_json(), allow_nan=False))
    T, H = len(text), 16
    assert doc["tokens"] == list(text)
    assert len(doc["hidden"]) == 2 and all(np.shape(h) == (T, H) for h in doc["hidden"])
    assert ("cell" in doc) == (cell == "lstm")
    if cell == "lstm":
        assert all(np.shape(c) == (T, H) for c in doc["cell"])
    assert [tuple(g) for g in doc["gates"]] == [GATE_NAMES[cell]] * 2
    assert all(np.shape(v) == (T, H) for g in doc["gates"] for v in g.values())
    assert len(doc["top_k"]) == T
    for row in doc["top_k"]:
        assert len(row) == 3 and all(isinstance(t, str) and 0 <= p <= 1 for t, p in row)
        assert [p for _, p in row] == sorted((p for _, p in row), reverse=True)
    assert all(len(g) == T for g in doc["grad_through_time"])
    numbers = list(_numbers(doc))
    assert numbers and all(math.isfinite(x) for x in numbers)


def test_inspect_text_window_and_errors():
    tok = CharTokenizer.fit("abcdef")
    model = RNNLanguageModel(ModelConfig(cell="lstm", vocab_size=tok.vocab_size, embed=4, hidden=8, layers=1))
    r = inspect_text(model, tok, "abcdefabcdef", max_tokens=5)
    assert r.tokens == list("bcdef") and r.offset == 7
    with pytest.raises(RnngenError, match="empty"):
        inspect_text(model, tok, "")
    with pytest.raises(RnngenError, match="never seen"):
        inspect_text(model, tok, "abz")
    with pytest.raises(RnngenError, match="loss"):
        inspect_text(model, tok, "abc", loss="first")
    with pytest.raises(RnngenError):
        inspect_ids(model, [0, 99])


def test_word_level_unknown_words_and_pieces():
    tok = WordTokenizer.fit("the cat sat on the mat.\nthe end")
    model = RNNLanguageModel(ModelConfig(cell="gru", vocab_size=tok.vocab_size, embed=4, hidden=8, layers=1))
    r = inspect_text(model, tok, "the dog sat.")
    assert r.unknown == ["dog"] and r.tokens == ["the", "<unk>", "sat", "."]
    ids = tok.encode("the cat sat on the mat.\nthe end")
    assert "".join(display_pieces(tok, ids)) == tok.decode(ids)
    chars = CharTokenizer.fit("héllo\n")
    assert display_pieces(chars, chars.encode("héllo\n")) == list("héllo\n")


# ---- sampling with details --------------------------------------------------------------


def test_sample_with_details_matches_the_sampler_and_its_distributions():
    tok = CharTokenizer.fit("abcdefgh \n")
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(cell="lstm", vocab_size=tok.vocab_size, embed=8, hidden=16, layers=2)).eval()
    config = SamplingConfig(temperature=0.9, top_k=4)
    steps = list(sample_with_details(model, tok, prompt="abc", length=30, config=config, seed=7, top_k=3))
    again = list(sample_with_details(model, tok, prompt="abc", length=30, config=config, seed=7, top_k=3))
    assert steps == again  # a seed fixes the text
    greedy = SamplingConfig(temperature=0)
    argmax = [s.token_id for s in sample_with_details(model, tok, prompt="abc", length=20, config=greedy)][3:]
    assert argmax == torch.cat(list(generate(model, tok, prime="abc", length=20, config=greedy))).tolist()
    assert [s.prompt for s in steps] == [True] * 3 + [False] * 30
    assert steps[0].prob is None and steps[1].sample_prob is None
    record = inspect_ids(model, [s.token_id for s in steps])
    for t in range(1, len(steps)):
        assert steps[t].prob == pytest.approx(record.token_probs[t], abs=1e-5)
        assert steps[t].entropy == pytest.approx(float(record.entropy[t - 1]), abs=1e-4)
        assert [i for i, _, _ in steps[t].top] == record.top_k_ids[t - 1][:3]
    for s in steps[3:]:
        assert 0 < s.sample_prob <= 1
        assert sum(1 for _, _, sp in s.top if sp > 0) <= 4  # top-k 4 leaves at most 4 candidates
    no_prompt = list(sample_with_details(model, tok, length=3, seed=1))
    assert no_prompt[0].token_id == tok.index["\n"] and len(no_prompt) == 4


def test_byte_level_pieces_keep_split_characters_whole():
    from rnngen.bpe import BPETokenizer

    text = "naïve café — 床前明月光\n" * 8
    tok = BPETokenizer.fit(text, 270)
    ids = tok.encode("café 床前 — ok")
    pieces = display_pieces(tok, ids)
    assert "".join(pieces) == tok.decode(ids) == "café 床前 — ok"
    assert "\ufffd" not in "".join(pieces)
