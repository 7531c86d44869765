"""rnngen units' engine: text features with known answers, the batched unroll against the
probes, and hand-set models whose units track a feature by construction."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from rnngen.errors import RnngenError
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.probes import inspect_ids
from rnngen.text_features import BUILTIN_FEATURES, parse_feature_spec, text_features
from rnngen.tokenizers import CharTokenizer, WordTokenizer, display_pieces
from rnngen.unit_features import rank_record, rank_units
from rnngen.unit_states import stream_layout, unit_states

CELLS = ("lstm", "gru", "rnn")


def char_features(text: str, **extra: str) -> dict[str, str]:
    """Each feature as a string of digits, one per character (values mod 10)."""
    return {f.name: "".join(str(int(v) % 10) for v in f.values) for f in text_features(list(text), extra)}


# ---- text features ----------------------------------------------------------------------


def test_brackets_depth_and_kinds_after_reading_each_character():
    text = "a(b[c{d}e]f)g)h"
    f = char_features(text)
    assert f["bracket_depth"] == "011223322110000"  # an unmatched ) does not go below 0
    assert f["in_parens"] == "011111111110000"
    assert f["in_square"] == "000111111000000"
    assert f["in_braces"] == "000001100000000"


def test_quotes_double_single_and_apostrophes():
    text = "say \"hi (x)\" don't 'yo' end\n'open\nnext"
    f = char_features(text)
    # The opening quote is inside, the closing one is not; don't's apostrophe is no quote;
    # a single quote left open ends at the line break.
    expected = "00001111111000000001110000001111100000"
    assert f["in_quotes"] == expected
    assert f["in_parens"][text.index("(") : text.index(")") + 1] == "110"


def test_line_position_line_end_and_indentation():
    text = "ab\n  cd\n\tx\n"
    f = char_features(text)
    assert f["line_position"] == "12012340120"  # a line break resets it to 0
    assert f["to_line_end"] == "21543213211"  # after a line break: the next line's length
    assert f["indent"] == "00012220440"  # a tab counts 4


def test_words_numbers_upper_case_and_sentence_starts():
    text = "Pi is 3.14. Yes! ok x2"
    f = char_features(text)
    assert f["word_start"] == "1001001000001000010010"
    assert f["in_number"] == "0000001111000000000001"
    assert f["upper"] == "1000000000001000000000"
    assert f["after_sentence_end"] == "0000000000011000110000"  # not after 3. (no space)


def test_user_features_mark_tokens_overlapping_a_match():
    f = char_features("def f(): return 1\ndef g", kw=r"\bdef\b", digit=r"\d")
    assert f["kw"] == "11100000000000000011100"[: len("def f(): return 1\ndef g")]
    assert f["digit"] == "00000000000000001000000"[: len("def f(): return 1\ndef g")]


def test_word_level_features_count_words_and_skip_spaces():
    text = 'He said "go home" now.\nThen ( a b ) end'
    tok = WordTokenizer.fit(text)
    pieces = display_pieces(tok, tok.encode(text))
    features = {f.name: f.values.astype(int).tolist() for f in text_features(pieces, level="word")}
    assert "indent" not in features and "word_start" not in features
    words = tok.split(text)
    assert words[:8] == ["He", "said", '"', "go", "home", '"', "now", "."]
    assert features["in_quotes"][:8] == [0, 0, 1, 1, 1, 0, 0, 0]
    assert features["line_position"] == [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6]
    assert features["in_parens"][9:15] == [0, 1, 1, 1, 0, 0]
    assert features["upper"][:2] == [1, 0] and features["upper"][9] == 1
    assert features["after_sentence_end"][9] == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("noequals", "NAME=REGEX"),
        ("x=(", "bad regular expression"),
        ("in_quotes=x", "built-in"),
        ("9lives=x", "feature name"),
        ("empty=", "empty regular expression"),
    ],
)
def test_bad_feature_specs_are_one_line_errors(spec, message):
    with pytest.raises(RnngenError, match=message) as info:
        parse_feature_spec(spec)
    assert "\n" not in str(info.value)


def test_parse_feature_spec_keeps_equals_signs_in_the_regex():
    name, regex = parse_feature_spec("assign=[^=]=[^=]")
    assert name == "assign" and regex.pattern == "[^=]=[^=]"


# ---- the batched unroll reads the probes' numbers -----------------------------------------


def small_model(cell: str, vocab: int, *, layers: int = 2, hidden: int = 12, seed: int = 0) -> RNNLanguageModel:
    torch.manual_seed(seed)
    return RNNLanguageModel(ModelConfig(cell=cell, vocab_size=vocab, embed=6, hidden=hidden, layers=layers)).eval()


def gathered(model, ids, **options) -> dict:
    out: dict = {}
    seen = np.zeros(len(ids), dtype=int)
    for positions, states in unit_states(model, ids, **options):
        seen[positions] += 1
        for key, values in states.items():
            out.setdefault(key, np.zeros((len(ids), values.shape[1]), dtype=np.float32))[positions] = values
    assert (seen == 1).all(), "every token is read exactly once"
    return out


@pytest.mark.parametrize("cell", CELLS)
def test_unit_states_equal_the_probes(cell):
    ids = np.random.default_rng(0).integers(0, 10, 300)
    model = small_model(cell, 10)
    record = inspect_ids(model, ids)
    got = gathered(model, ids, chunk_steps=37)
    for k in range(2):
        np.testing.assert_allclose(got[(k, "h")], record.hidden[k], atol=1e-5)
        if cell == "lstm":
            np.testing.assert_allclose(got[(k, "c")], record.cell_state[k], atol=1e-5)
    assert ((0, "c") in got) == (cell == "lstm")


def test_long_texts_are_read_as_warmed_up_stretches():
    positions, counts = stream_layout(1000, streams=4, warmup=50)
    assert positions.shape == (4, 300)
    assert sorted(positions[counts].tolist()) == list(range(1000))
    assert positions[1, 0] == 200 and counts[1, :50].sum() == 0  # stretch 1 warms up on 200..249
    ids = np.random.default_rng(1).integers(0, 10, 1000)
    model = small_model("lstm", 10, layers=1)
    got = gathered(model, ids, streams=4, warmup=50)
    record = inspect_ids(model, ids)
    # The first stretch starts where the text starts: the probes' numbers exactly.
    np.testing.assert_allclose(got[(0, "h")][:250], record.hidden[0][:250], atol=1e-5)
    # A layer subset still runs the layers below it.
    deep = small_model("gru", 10, layers=2)
    top_only = gathered(deep, ids[:100], layers=[1])
    assert set(top_only) == {(1, "h")}
    np.testing.assert_allclose(top_only[(1, "h")], inspect_ids(deep, ids[:100]).hidden[1], atol=1e-5)


# ---- hand-set models: the answer is known -----------------------------------------------


def nested_text(n: int, seed: int = 0) -> str:
    """Letters, spaces and line breaks with ( ) nested up to 3 deep."""
    rng = random.Random(seed)
    out, depth = [], 0
    while len(out) < n:
        r = rng.random()
        if r < 0.08 and depth < 3:
            out.append("(")
            depth += 1
        elif r < 0.16 and depth > 0:
            out.append(")")
            depth -= 1
        elif r < 0.2:
            out.append("\n")
        else:
            out.append(rng.choice("abc xyz"))
    return "".join(out) + ")" * depth


def hand_set_lstm(tok: CharTokenizer) -> RNNLanguageModel:
    """Unit 0 counts bracket depth in c; unit 1 is all zeros (dead); unit 2 saturates; unit 3 is noise."""
    V, H = tok.vocab_size, 4
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(cell="lstm", vocab_size=V, embed=V, hidden=H, layers=1)).eval()
    row = lambda gate, unit: gate * H + unit  # torch's gate order: i, f, g, o
    with torch.no_grad():
        model.embedding.weight.copy_(torch.eye(V))
        for p in model.rnn.parameters():
            p.zero_()
        w, b = model.rnn.weight_ih_l0, model.rnn.bias_ih_l0
        for gate in (0, 1, 3):  # input, forget and output gates wide open: c_t = c_{t-1} + g_t
            b[row(gate, 0)] = 30.0
        w[row(2, 0), tok.index["("]] = 20.0  # g = +1 on (
        w[row(2, 0), tok.index[")"]] = -20.0  # g = -1 on )
        b[row(0, 2)], b[row(1, 2)], b[row(2, 2)], b[row(3, 2)] = 30.0, 1.1, 30.0, 30.0  # c -> 4, h -> 0.999
        w[row(2, 3)] = torch.randn(V) * 0.5
    return model


def test_a_hand_set_lstm_unit_that_counts_brackets_ranks_first():
    text = nested_text(3000)
    tok = CharTokenizer.fit(text)
    report = rank_units(hand_set_lstm(tok), tok, text, top=3)
    depth = report.feature("bracket_depth")
    best = depth.units[0]
    assert (best.layer, best.state, best.unit) == (0, "c", 0)
    assert best.r > 0.999
    inside = report.feature("in_parens")
    assert inside.kind == "binary" and inside.base_rate is not None
    assert inside.units[0].unit == 0 and inside.units[0].r > 0.9
    assert inside.units[0].probe_acc is not None and inside.units[0].probe_acc > 0.99 > inside.base_rate + 0.2
    # The dead and the saturated unit are reported, never ranked.
    left_out = {(u.state, u.unit): u.reason for u in report.inactive}
    assert left_out == {("h", 1): "constant", ("c", 1): "constant", ("h", 2): "saturated", ("c", 2): "saturated"}
    assert report.ranked_units == 4  # h and c of units 0 and 3
    for feature in report.features:
        assert all(u.unit in (0, 3) for u in feature.units)
    doc = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert doc["features"][[f["name"] for f in doc["features"]].index("bracket_depth")]["units"][0] == {
        "layer": 0,
        "state": "c",
        "unit": 0,
        "r": pytest.approx(best.r, abs=1e-4),
    }
    assert {"layer": 0, "state": "h", "unit": 1, "reason": "constant", "share": 0.0} in doc["inactive"]


def test_a_hand_set_rnn_unit_that_counts_brackets_down_ranks_first():
    text = nested_text(2000, seed=1)
    tok = CharTokenizer.fit(text)
    V = tok.vocab_size
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(cell="rnn", vocab_size=V, embed=V, hidden=3, layers=1)).eval()
    with torch.no_grad():
        model.embedding.weight.copy_(torch.eye(V))
        for p in model.rnn.parameters():
            p.zero_()
        model.rnn.weight_hh_l0[0, 0] = 1.0  # h_t = tanh(h_{t-1} -+ 0.1): small steps, tanh nearly linear
        model.rnn.weight_ih_l0[0, tok.index["("]] = -0.1  # counting down: r is negative, |r| ranks it
        model.rnn.weight_ih_l0[0, tok.index[")"]] = 0.1
        model.rnn.weight_ih_l0[2] = torch.randn(V) * 0.3  # unit 2: noise; unit 1: dead
    report = rank_units(model, tok, text)
    best = report.feature("bracket_depth").units[0]
    assert (best.state, best.unit) == ("h", 0) and best.r < -0.95
    assert [(u.unit, u.reason) for u in report.inactive] == [(1, "constant")]


def test_constant_features_rank_nothing_and_the_record_path_agrees():
    text = nested_text(600, seed=2)  # no quotes, braces or digits in it
    tok = CharTokenizer.fit(text)
    model = small_model("lstm", tok.vocab_size, layers=1)
    report = rank_units(model, tok, text, top=4, extra={"xyz": "[xyz]+"})
    assert report.streams == 1 and report.tokens == len(text) and not report.truncated
    for name in ("in_quotes", "in_braces", "in_number"):
        assert report.feature(name).constant and report.feature(name).units == ()
    assert len(report.feature("xyz").units) == 4
    assert set(report.feature_values) == {f.name for f in report.features}
    from_record = rank_record(inspect_ids(model, tok.encode(text)), tok, top=4, extra={"xyz": "[xyz]+"})
    for a, b in zip(report.features, from_record.features):
        assert [(u.layer, u.state, u.unit) for u in a.units] == [(u.layer, u.state, u.unit) for u in b.units]
        np.testing.assert_allclose([u.r for u in a.units], [u.r for u in b.units], atol=1e-4)


def test_max_tokens_layers_and_bad_arguments():
    text = nested_text(900, seed=3)
    tok = CharTokenizer.fit(text)
    model = small_model("gru", tok.vocab_size, layers=2)
    report = rank_units(model, tok, text, max_tokens=100, layers=[1])
    assert report.tokens == 100 and report.truncated
    assert all(u.layer == 1 for f in report.features for u in f.units)
    assert set(BUILTIN_FEATURES) == {f.name for f in report.features}
    with pytest.raises(RnngenError, match="no layer 3"):
        rank_units(model, tok, text, layers=[2])
    with pytest.raises(RnngenError, match="max-tokens"):
        rank_units(model, tok, text, max_tokens=0)
    with pytest.raises(RnngenError, match="empty"):
        rank_units(model, tok, "")
