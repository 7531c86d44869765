"""rnngen tui, view 5: the cell's equations with one unit's numbers, equal to what
``rnngen inspect --json`` prints for the same checkpoint and text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.inspector import run, save_tiny, settle
from textual.widgets import ContentSwitcher

from rnngen.checkpoint import load_checkpoint
from rnngen.tui.inspector.app import InspectApp
from rnngen.tui.inspector.equation_view import EquationView

PROMPT = "ROMEO:"
LENGTH = 40


def make_app(path: Path) -> InspectApp:
    loaded = load_checkpoint(path, with_training_state=False)
    return InspectApp(loaded, seed=1, prompt=PROMPT, length=LENGTH, checkpoints_dir=path.parent)


def body(app: InspectApp) -> str:
    return app.query_one("#eq-body").render().plain


def info(app: InspectApp) -> str:
    return app.query_one("#eq-info").render().plain


def inspect_json(path: Path, text: str) -> dict:
    return json.loads(run_cli("inspect", path, "--text", text, "--json").output)


def test_equation_numbers_equal_inspect_json_and_follow_the_cursor(tmp_path):
    path = save_tiny(tmp_path / "tiny-lstm.safetensors", "lstm")

    async def go():
        app = make_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("5")
            view = app.query_one(EquationView)
            assert app.query_one(ContentSwitcher).current == "equations" and app.focused is view
            last = len(app.state.doc) - 1
            assert view.now is not None and view.now.step == last and view.now.unit == 0
            await pilot.press("left", "left", "down", "down", "down", "right_square_bracket")
            s = app.state
            assert (s.cursor, s.unit, s.layer) == (last - 2, 3, 1)
            now, before = view.now, view.before
            assert (now.step, now.unit, now.layer) == (last - 2, 3, 1) and before.step == last - 3
            assert f"t={last - 1} " in info(app) and "x_t: h_t of layer 1" in info(app)
            doc = inspect_json(path, "".join(s.pieces))
            assert doc["token_ids"] == s.record.token_ids
            t, u = now.step, now.unit
            for step, shown in ((t, now), (t - 1, before)):
                for gate in ("input", "forget", "cell", "output"):
                    assert shown.gate(gate).value == pytest.approx(doc["gates"][1][gate][step][u], abs=1e-6)
                assert shown.h == pytest.approx(doc["hidden"][1][step][u], abs=1e-6)
                assert shown.c == pytest.approx(doc["cell"][1][step][u], abs=1e-6)
            text = body(app)
            for g in now.gates:  # every row: the input's part + the state's part = the value
                row = next(line for line in text.splitlines() if line.lstrip().startswith(f"{g.symbol} "))
                assert f"{g.from_input:+.3f}" in row and f"{g.from_state:+.3f}" in row
                assert row.rstrip().endswith(f"{g.value:+.3f} │ {before.gate(g.gate).value:+.3f}")
            c_row = next(line for line in text.splitlines() if line.lstrip().startswith("c_t =") and "│" in line)
            assert f"{before.c:+.3f}" in c_row and c_row.rstrip().endswith(f"{now.c:+.3f} │ {before.c:+.3f}")
            # Moving through steps and units redraws it.
            await pilot.press("right")
            assert view.now.step == t + 1 and view.before.step == t and body(app) != text
            await pilot.press("up")
            assert view.now.unit == 2
            await pilot.press("home")
            assert view.now.step == 0 and view.before is None and "start" in body(app)
            assert "the first token: h and c start at 0" in info(app)
            await pilot.press("left_square_bracket")
            assert view.now.layer == 0 and "x_t: the embedding of 'R'" in info(app)
            # A click on the text below moves the cursor.
            await pilot.click("#eq-text", offset=(3, 0))
            assert view.now.step == 3

    run(go())


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_equation_view_for_gru_and_rnn(tmp_path, cell):
    path = save_tiny(tmp_path / f"tiny-{cell}.safetensors", cell, layers=1)

    async def go():
        app = make_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("5", "down")
            view = app.query_one(EquationView)
            text = body(app)
            doc = inspect_json(path, "".join(app.state.pieces))
            t, u = view.now.step, 1
            assert view.now.h == pytest.approx(doc["hidden"][0][t][u], abs=1e-6)
            if cell == "gru":
                assert "h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}" in text
                assert [g.symbol for g in view.now.gates] == ["r", "z", "n"]
                for gate in ("reset", "update", "new"):
                    assert view.now.gate(gate).value == pytest.approx(doc["gates"][0][gate][t][u], abs=1e-6)
                n = view.now.gate("new")
                assert f"{n.scale:.2f}⊙{n.from_state:+.3f}" in text  # r scales the state's part of n
            else:
                assert "h_t = tanh(W_ih x_t + b + W_hh h_{t-1})" in text
                assert doc["gates"] == [{}] and len(view.now.gates) == 1
                row = text.splitlines()[-1]
                assert row.rstrip().endswith(f"{view.now.h:+.3f} │ {view.before.h:+.3f}")

    run(go())


def test_snapshot_equation_view(snap_compare, tmp_path):
    path = save_tiny(tmp_path / "tiny-lstm.safetensors", "lstm")

    async def before(pilot):
        await settle(pilot)
        await pilot.press("5", "down", "down", "left")

    assert snap_compare(make_app(path), terminal_size=(80, 24), run_before=before)
