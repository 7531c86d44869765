"""rnngen units end to end: tiny trained models (char and word level, every cell), the table,
--json, and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest
from helpers.cli import TINY, run_cli
from helpers.errors import assert_clean_failure

from rnngen.text_features import BUILTIN_FEATURES, NOT_AT_WORD_LEVEL

CODE = 'def f(x):\n    return (x + 1) * "a"\n\nclass A:\n    """Doc. It is 42."""\n    def g(self, y=[1, 2]):\n        return {"k": y}\n'
CELLS = ("lstm", "gru", "rnn")


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("units-text")
    (folder / "code.txt").write_text(CODE * 20, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, texts):
    """(level, cell) -> a checkpoint trained for a few steps on the code text."""
    folder = tmp_path_factory.mktemp("units-ckpts")

    def train(level: str, cell: str):
        out = folder / f"{level}-{cell}.safetensors"
        if not out.exists():
            layers = ["--layers", "2"] if cell == "lstm" else []
            run_cli(
                "train",
                texts / "code.txt",
                "--level",
                level,
                "--model",
                cell,
                "--steps",
                "5",
                "--out",
                out,
                *TINY,
                *layers,
            )
        return out

    return train


def units_json(*args) -> dict:
    result = run_cli("units", *args, "--json")
    return json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"non-finite {name} in --json"))


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("cell", CELLS)
def test_json_ranks_every_unit_of_every_cell(trained, texts, level, cell):
    ckpt = trained(level, cell)
    doc = units_json(ckpt, texts / "code.txt", "--top", "3", "--feature", "kw=\\b(def|class|return)\\b")
    layers = 2 if cell == "lstm" else 1
    hidden = 16
    assert doc["model"] == {"cell": cell, "layers": layers, "hidden": hidden}
    assert doc["level"] == level and doc["tokens"] > 100 and not doc["truncated"]
    states = ("h", "c") if cell == "lstm" else ("h",)
    assert doc["ranked_units"] + len(doc["inactive"]) == layers * len(states) * hidden
    expected = [n for n in BUILTIN_FEATURES if not (level == "word" and n in NOT_AT_WORD_LEVEL)] + ["kw"]
    assert [f["name"] for f in doc["features"]] == expected
    left_out = {(u["layer"], u["state"], u["unit"]) for u in doc["inactive"]}
    for f in doc["features"]:
        if f["constant"]:
            assert f["units"] == []
            continue
        assert 1 <= len(f["units"]) <= 3
        rs = [abs(u["r"]) for u in f["units"]]
        assert rs == sorted(rs, reverse=True) and all(r <= 1.0 for r in rs)
        for u in f["units"]:
            assert 0 <= u["layer"] < layers and u["state"] in states and 0 <= u["unit"] < hidden
            assert (u["layer"], u["state"], u["unit"]) not in left_out
            assert ("probe_acc" in u) == (f["kind"] == "binary")
        if f["kind"] == "binary":
            assert 0.5 <= f["base_rate"] <= 1.0
    assert not doc_feature(doc, "kw")["constant"]
    if level == "char":
        assert doc_feature(doc, "indent")["std"] > 0


def test_bpe_level_reads_token_spans(trained, texts):
    doc = units_json(trained("bpe", "lstm"), texts / "code.txt")
    assert doc["level"] == "bpe" and doc["tokens"] < len(CODE * 20)
    assert doc_feature(doc, "indent")["std"] > 0 and doc_feature(doc, "in_quotes")["mean"] > 0


def doc_feature(doc: dict, name: str) -> dict:
    return next(f for f in doc["features"] if f["name"] == name)


def test_table_layer_and_max_tokens(trained, texts):
    ckpt = trained("char", "lstm")
    out = run_cli("units", ckpt, texts / "code.txt", "--top", "2", "--layer", "2", "--max-tokens", "500").stdout
    assert "LSTM 2x16, char level" in out
    assert "the first 500 tokens" in out
    assert "in_quotes  inside quotes: holds on" in out and "base rate" in out and "probe acc" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("  L")]
    assert rows and all(row[0] == "L2" for row in rows)  # --layer 2 ranks layer 2 only
    doc = units_json(ckpt, texts / "code.txt", "--layer", "1", "--max-tokens", "300")
    assert doc["tokens"] == 300 and doc["truncated"]
    assert {u["layer"] for f in doc["features"] for u in f["units"]} == {0}


def test_a_folder_of_text_files_is_read_like_other_commands(trained, texts):
    doc = units_json(trained("char", "gru"), texts)
    assert doc["tokens"] == len(CODE * 20)


@pytest.mark.parametrize(
    ("args", "code", "match"),
    [
        (["--feature", "nameonly"], 2, "NAME=REGEX"),
        (["--feature", "x=("], 2, "bad regular expression"),
        (["--feature", "a=x", "--feature", "a=y"], 2, "given twice"),
        (["--feature", "indent=x"], 2, "built-in"),
        (["--max-tokens", "0"], 2, "--max-tokens"),
        (["--top", "0"], 2, "--top"),
        (["--layer", "3"], 2, "has 1 layer"),
    ],
)
def test_bad_options_are_usage_errors(trained, texts, args, code, match):
    result = run_cli("units", trained("char", "rnn"), texts / "code.txt", *args, ok=False)
    assert result.exit_code == code
    assert_clean_failure(result, match)


def test_bad_texts_and_checkpoints_are_one_line_errors(trained, texts, tmp_path):
    ckpt = trained("char", "rnn")
    (tmp_path / "new.txt").write_text("QQQ zzz\n")
    (tmp_path / "bin.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty").mkdir()
    cases = [
        ((ckpt, tmp_path / "missing.txt"), "no such file or folder"),
        ((ckpt, tmp_path / "new.txt"), "never seen"),
        ((ckpt, tmp_path / "bin.txt"), "binary"),
        ((ckpt, tmp_path / "empty"), "no *.txt files"),
        ((tmp_path / "missing.safetensors", texts / "code.txt"), "does not exist"),
        ((texts / "code.txt", texts / "code.txt"), "code.txt"),
    ]
    for args, match in cases:
        result = run_cli("units", *args, ok=False)
        assert result.exit_code == 1, (args, result.output)
        assert_clean_failure(result, match)
