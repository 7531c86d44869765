"""rnngen tui, view 6: the units ranked against the features of the inspected text; the
chosen unit colours the text and is drawn against the feature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.inspector import run, save_tiny, settle
from textual.widgets import ContentSwitcher

from rnngen.checkpoint import load_checkpoint
from rnngen.tui.inspector import messages as msg
from rnngen.tui.inspector.app import InspectApp
from rnngen.tui.inspector.units_view import UnitsView
from rnngen.tui.widgets.colors import activation_rgb, bg_style
from rnngen.unit_features import rank_record

PROMPT = "ROMEO:"
LENGTH = 60


def make_app(path: Path, prompt: str = PROMPT) -> InspectApp:
    loaded = load_checkpoint(path, with_training_state=False)
    return InspectApp(loaded, seed=1, prompt=prompt, length=LENGTH, checkpoints_dir=path.parent)


def plain(app: InspectApp, selector: str) -> str:
    return app.query_one(selector).render().plain


def chosen(app: InspectApp) -> tuple[int, str, int]:
    s = app.state
    return s.layer, s.state_kind, s.unit


def test_units_view_ranks_the_text_and_the_chosen_unit_colours_it(tmp_path):
    path = save_tiny(tmp_path / "tiny-lstm.safetensors", "lstm")

    async def go():
        app = make_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert app.state.units is None  # nothing is ranked until the view is opened
            await pilot.press("6")
            assert app.query_one(ContentSwitcher).current == "units"
            assert isinstance(app.focused, UnitsView)
            await settle(pilot)
            s = app.state
            assert s.units_ready() and not s.ranking
            # The probes' record, ranked by the core: the same numbers `rnngen units` ranks.
            assert s.units.to_json() == rank_record(s.record, s.opened.tokenizer).to_json()
            features = app.query_one("#units-features")
            assert len(features.rows) == len(s.units.features)
            first = s.feature_ranking()
            assert first is s.units.features[0] and first.units  # line_position varies in any text
            best = first.units[0]
            assert chosen(app) == (best.layer, best.state, best.unit)
            assert f"{best.label}" in features.rows[0].plain and f"{best.r:+.2f}" in features.rows[0].plain
            # The table's r is the unit's correlation with the feature over this text.
            values = s.state_values()[:, s.unit]
            feature = s.units.feature_values[first.name]
            assert np.corrcoef(values, feature)[0, 1] == pytest.approx(best.r, abs=1e-3)
            # The text is coloured by the chosen unit, as the hidden view colours it.
            text = app.query_one("#units-text")
            scale = s.unit_scale()
            assert text.token_styles == [bg_style(activation_rgb(float(v), scale)) for v in values]
            strip = app.query_one("#units-strip")
            np.testing.assert_array_equal(strip.activation, values)
            np.testing.assert_array_equal(strip.feature, feature)
            assert strip.options["cursor"] == s.record_cursor() == len(s.doc) - 1
            assert f"against {first.name} · r = {best.r:+.2f}" in plain(app, "#units-strip-title")
            # ↓: the next ranked unit; f / F: the next / previous feature.
            await pilot.press("down")
            second = first.units[1]
            assert s.rank == 1 and chosen(app) == (second.layer, second.state, second.unit)
            assert text.token_styles != [bg_style(activation_rgb(float(v), scale)) for v in values]
            await pilot.press("f")
            assert s.feature == 1 and s.rank == 0
            assert "to_line_end" in plain(app, "#units-ranked")
            await pilot.press("F", "F")
            assert s.feature == len(s.units.features) - 1
            # A click on a feature row shows that feature; the cursor keys move the cursor.
            await pilot.click("#units-features", offset=(2, 1))
            assert s.feature == 0 and chosen(app) == (best.layer, best.state, best.unit)
            await pilot.press("left", "left")
            assert strip.options["cursor"] == len(s.doc) - 3 == text.cursor
            # The choice is every view's selection: the hidden view shows the same unit.
            await pilot.press("2")
            assert f"unit {best.unit}/24" in plain(app, "#hidden-info")

    run(go())


def test_units_are_ranked_again_for_a_new_text(tmp_path):
    path = save_tiny(tmp_path / "tiny-gru.safetensors", "gru", layers=1)

    async def go():
        app = make_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("6")
            await settle(pilot)
            first = app.state.units
            assert all(u.state == "h" for f in first.features for u in f.units)  # a GRU has no c
            app.query_one(UnitsView).post_message(msg.Generate())
            await settle(pilot)
            s = app.state
            assert s.units is not first and s.units_ready()
            assert s.units.to_json() == rank_record(s.record, s.opened.tokenizer).to_json()

    run(go())


def test_units_view_at_word_level(tmp_path):
    path = save_tiny(tmp_path / "tiny-word.safetensors", "rnn", level="word")

    async def go():
        app = make_app(path, prompt="ROMEO :")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("6")
            await settle(pilot)
            names = [f.name for f in app.state.units.features]
            assert "indent" not in names and "word_start" not in names  # nothing to say at word level
            assert app.state.units.level == "word" and app.state.units.tokens == len(app.state.doc)

    run(go())


def test_snapshot_units_view(snap_compare, tmp_path):
    path = save_tiny(tmp_path / "tiny-lstm.safetensors", "lstm")

    async def before(pilot):
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("down", "left")

    assert snap_compare(make_app(path), terminal_size=(80, 24), run_before=before)


def test_view_bar_drops_the_start_of_a_long_status_first():
    from rnngen.tui.inspector.viewbar import fit_status

    status = "tiny-lstm.safetensors · LSTM 2x24 char · 66 tok · generating…"
    assert fit_status(status, 80) == status
    assert fit_status(status, 36) == "… · 66 tok · generating…"  # what is under way stays in sight
    assert fit_status(status, 16) == "… · generating…"
    assert fit_status(status, 10) == "…nerating…"
