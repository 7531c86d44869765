"""``rnngen compare``: the cells trained side by side, reported as a table or JSON."""

from __future__ import annotations

import json

from tests.conftest import run_cli

TINY = ["--hidden", "16", "--embed", "8", "--layers", "1", "--seq-len", "16", "--batch-size", "4",
        "--threads", "1", "--seed", "3", "--probe-len", "48"]


def test_compare_prints_table_with_decay_ratio(english_corpus, tmp_path):
    result = run_cli("compare", english_corpus, "--models", "rnn,lstm,gru", "--steps", "20",
                     "--out-dir", tmp_path / "cmp", *TINY)
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header[:7] == ["cell", "params", "steps", "val", "loss", "val", "bpc"]
    assert "decay" in lines[0] and "||dL/dh_1||/||dL/dh_T||" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert set(rows) == {"rnn", "lstm", "gru"}
    for cell, row in rows.items():
        assert row[2] == "20", "every cell gets the same budget"
        assert float(row[3]) > 0 and float(row[4]) > 0
    assert rows["rnn"][5] not in ("-", ""), "the rnn's decay ratio is reported"
    assert "gradient through time on the same 48-token validation window" in result.stdout
    for cell in ("rnn", "lstm", "gru"):
        assert (tmp_path / "cmp" / f"{cell}.safetensors").exists()


def test_compare_json_and_time_budget_split(english_corpus, tmp_path):
    result = run_cli("compare", english_corpus, "--models", "rnn,lstm", "--time", "2s", "--json",
                     "--out-dir", tmp_path / "cmp", *TINY)
    doc = json.loads(result.stdout)
    cells = {c["cell"]: c for c in doc["cells"]}
    assert set(cells) == {"rnn", "lstm"}
    for c in cells.values():
        assert c["seconds"] <= 1.0 + 0.5, "a 2s budget gives each of two cells about 1s"
        assert len(c["grad_profile"]) == 48 and c["val_loss"] > 0
    # plain RNN: the gradient reaching the window's start is far smaller than the LSTM's
    assert cells["rnn"]["grad_decay_ratio"] < cells["lstm"]["grad_decay_ratio"]
    # a second run replaces compare's own checkpoints instead of refusing
    run_cli("compare", english_corpus, "--models", "rnn", "--steps", "3", "--out-dir", tmp_path / "cmp", *TINY)


def test_compare_bad_input_is_one_line(english_corpus, tmp_path):
    for args, message in ((["--models", "rnn,transformer"], "unknown cell"),
                          (["--models", "rnn,rnn"], "twice"),
                          (["--steps", "5", "--time", "1m"], "one budget"),
                          (["--hidden", "0", "--steps", "5"], "--hidden")):
        result = run_cli("compare", english_corpus, *args, ok=False)
        assert result.exit_code != 0
        assert message in result.output and "Traceback" not in result.output
