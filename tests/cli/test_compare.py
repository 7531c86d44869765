"""``rnngen compare``: the cells trained side by side, reported as a table or JSON."""

from __future__ import annotations

import json

from helpers.cli import run_cli

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


def test_compare_tui_shows_cells_side_by_side(english_corpus, tmp_path):
    import asyncio
    import time

    from rnngen.compare import build_trainers
    from rnngen.corpus import load_corpus
    from rnngen.training import TrainConfig
    from rnngen.tui.compare_view import CompareDashboard

    config = TrainConfig(hidden=16, embed=8, layers=1, seq_len=16, batch_size=4, threads=1, steps=15)
    trainers = build_trainers(config, load_corpus(str(english_corpus)), ["rnn", "lstm"], tmp_path / "cmp")

    async def scenario():
        app = CompareDashboard(trainers, probe_len=32)
        async with app.run_test(size=(120, 30)) as pilot:
            deadline = time.monotonic() + 30
            while not app.finished.is_set() and time.monotonic() < deadline:
                await pilot.pause(0.1)
            await pilot.pause(0.4)
            text = "\n".join(str(app.query_one(f"#{kind}-{cell}").render())
                             for cell in ("rnn", "lstm") for kind in ("loss", "gtt"))
            status = str(app.query_one("#status").render())
            await pilot.press("q")
        return app, text, status

    app, text, status = asyncio.run(scenario())
    assert app.return_code == 0
    assert [r.cell for r in app.results] == ["rnn", "lstm"]
    assert "RNN done, 15 steps" in status and "LSTM done, 15 steps" in status
    assert text.count("h1/hT") == 2 and text.count("val loss") == 2
