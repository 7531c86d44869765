"""rnngen tui: Pilot runs through every view and key, snapshots of each view at 80x24,
the plain-data renderers, and the real program under tmux."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.inspector import run, save_tiny, settle
from safetensors.torch import save_file
from textual.widgets import ContentSwitcher, Input, OptionList

from rnngen.checkpoint import load_checkpoint
from rnngen.probe_stats import most_active_units
from rnngen.tui.inspector.app import InspectApp
from rnngen.tui.inspector.views import GatesView, GradientView, HiddenView, SampleView
from rnngen.tui.screens.help import HelpScreen
from rnngen.tui.screens.picker import CheckpointPicker
from rnngen.tui.widgets import (
    Candidate,
    TopKBars,
    layout_tokens,
    log_range,
    render_heatmap,
    render_log_chart,
    render_saturation,
    render_topk,
)
from rnngen.tui.widgets.timeaxis import TimeAxis

PROMPT = "ROMEO:"
LENGTH = 60


def place_checkpoints(folder: Path) -> dict[str, Path]:
    """Three seeded checkpoints with fixed modification times (the picker lists newest first)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "lstm": save_tiny(folder / "tiny-lstm.safetensors", "lstm"),
        "gru": save_tiny(folder / "tiny-gru.safetensors", "gru", layers=1),
        "rnn": save_tiny(folder / "tiny-rnn.safetensors", "rnn"),
    }
    for age, name in enumerate(["rnn", "lstm", "gru"]):  # rnn newest, then lstm, then gru
        stamp = 1_700_000_000 - age * 60
        os.utime(paths[name], (stamp, stamp))
    return paths


@pytest.fixture()
def ckpts(tmp_path) -> dict[str, Path]:
    """Checkpoints in ./checkpoints (the tests run in their own temporary folder)."""
    return place_checkpoints(tmp_path / "checkpoints")


def make_app(path: Path | None, **options) -> InspectApp:
    options.setdefault("seed", 1)
    options.setdefault("prompt", PROMPT)
    options.setdefault("length", LENGTH)
    options.setdefault("checkpoints_dir", Path("checkpoints"))
    loaded = load_checkpoint(path, with_training_state=False) if path is not None else None
    return InspectApp(loaded, **options)


def current(app: InspectApp) -> str:
    return app.query_one(ContentSwitcher).current


def plain(widget) -> str:
    """What a widget shows, as plain text."""
    return widget.render().plain


# ---- Pilot: every view and key --------------------------------------------------------------


def test_opening_generates_and_inspects_then_views_switch_by_key_and_click(ckpts):
    async def go():
        app = make_app(ckpts["lstm"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert len(app.state.doc) == len(PROMPT) + LENGTH
            assert "".join(app.state.pieces).startswith(PROMPT)
            assert app.state.record is not None and app.state.record.num_tokens == len(app.state.doc)
            assert [s.prompt for s in app.state.doc[:7]] == [True] * 6 + [False]
            assert app.state.cursor == len(app.state.doc) - 1
            for key, name, view in (("2", "hidden", HiddenView), ("3", "gates", GatesView),
                                    ("4", "gradient", GradientView), ("1", "sample", SampleView)):
                await pilot.press(key)
                assert current(app) == name and isinstance(app.focused, view)
            await pilot.click("#viewbar", offset=(22, 0))  # " 3 Gates "
            assert current(app) == "gates"
            await pilot.click("#viewbar", offset=(32, 0))  # " 4 Gradient "
            assert current(app) == "gradient"
            assert "tiny-lstm.safetensors" in app.state.status_text() and "LSTM 2x24 char" in app.state.status_text()

    run(go())


def test_sample_view_keys_cursor_candidates_and_colouring(ckpts):
    async def go():
        app = make_app(ckpts["lstm"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            last = len(app.state.doc) - 1
            bars = app.query_one("#topk-bars", TopKBars)
            assert bars.header.startswith(f"{last + 1}/{last + 1} ") and "(sampled)" in bars.header
            assert any(c.chosen for c in bars.candidates) and bars.entropy is not None
            await pilot.press("left", "left")
            assert app.state.cursor == last - 2
            await pilot.press("home")
            assert app.state.cursor == 0 and bars.note == "the first token: nothing predicts it"
            await pilot.press("right")
            assert "(prompt)" in bars.header and all(c.sample_prob is None for c in bars.candidates)
            await pilot.press("down")
            assert app.state.cursor > 1  # one line down: ROMEO:↵ is the first line
            await pilot.press("up")
            assert app.state.cursor <= 6
            await pilot.press("end")
            assert app.state.cursor == last
            # Colour by probability, then by the selected unit.
            text = app.query_one("#sample-text")
            by_prob = list(text.token_styles)
            await pilot.press("u")
            assert app.state.colour_by == "unit" and text.token_styles != by_prob
            assert "colour by" not in plain(app.query_one("#sample-legend"))
            await pilot.press("u")
            assert app.state.colour_by == "prob"
            # A click puts the cursor on a token.
            await pilot.click("#sample-text", offset=(2, 0))
            assert app.state.cursor == 2
            # g generates again (the next seed): a new text after the same prompt.
            first = [s.token_id for s in app.state.doc]
            await pilot.press("g")
            await settle(pilot)
            again = [s.token_id for s in app.state.doc]
            assert again[:6] == first[:6] and again != first
            assert app.state.record is not None and app.state.record.token_ids == again

    run(go())


def test_prompt_and_settings_are_edited_in_place(ckpts):
    async def go():
        app = make_app(ckpts["lstm"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("e")
            prompt = app.query_one("#prompt", Input)
            assert app.focused is prompt
            prompt.value = ""
            await pilot.press(*"JULIET:", "enter")
            await settle(pilot)
            assert isinstance(app.focused, SampleView)
            assert "".join(app.state.pieces).startswith("JULIET:") and len(app.state.doc) == 7 + LENGTH
            # Settings: greedy sampling, 5 tokens.
            app.query_one("#temp", Input).value = "0"
            app.query_one("#length", Input).value = "5"
            await pilot.press("g")
            await settle(pilot)
            assert len(app.state.doc) == 7 + 5
            assert all(s.token_id == s.top[0][0] for s in app.state.doc[7:])  # temperature 0 = argmax
            # esc leaves a field without generating.
            await pilot.press("e", "escape")
            assert isinstance(app.focused, SampleView)

    run(go())


def test_bad_settings_and_prompts_are_reported_not_fatal(ckpts):
    async def go():
        app = make_app(ckpts["lstm"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            doc = list(app.state.doc)
            app.query_one("#temp", Input).value = "hot"
            await pilot.press("g")
            await settle(pilot)
            assert "T and p take numbers" in app.messages[-1] and app.state.doc == doc
            app.query_one("#temp", Input).value = "0.8"
            app.query_one("#topp", Input).value = "1.5"
            await pilot.press("g")
            assert "top-p" in app.messages[-1]
            app.query_one("#topp", Input).value = "1"
            app.query_one("#length", Input).value = "99999"
            await pilot.press("g")
            assert "n must be between" in app.messages[-1]
            app.query_one("#length", Input).value = "20"
            app.query_one("#prompt", Input).value = "ROMEO€"
            await pilot.press("g")
            await settle(pilot)
            assert "never seen" in app.messages[-1] and "never seen" in app.state.waiting_message()
            await pilot.press("2")
            assert "never seen" in plain(app.query_one("#hidden-info"))
            app.query_one("#prompt", Input).value = ""  # empty: start at a line break
            await pilot.press("1", "g")
            await settle(pilot)
            assert app.state.pieces[0] == "\n" and len(app.state.doc) == 21 and app.state.error == ""

    run(go())


def test_hidden_view_units_layers_state_and_mouse(ckpts):
    async def go():
        app = make_app(ckpts["lstm"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("2")
            await pilot.press("down", "down", "down")
            assert app.state.unit == 3
            await pilot.press("pagedown")
            assert app.state.unit == 13
            await pilot.press("pagedown", "pagedown")
            assert app.state.unit == 23  # clamped to the last of 24 units
            await pilot.press("pageup", "up")
            assert app.state.unit == 12
            info = app.query_one("#hidden-info")
            assert "layer 1/2" in plain(info) and "unit 12/24" in plain(info)
            await pilot.press("right_square_bracket")
            assert app.state.layer == 1 and "layer 2/2" in plain(info)
            await pilot.press("right_square_bracket")
            assert app.state.layer == 1
            await pilot.press("left_square_bracket")
            assert app.state.layer == 0
            await pilot.press("c")
            assert app.state.state_kind == "c" and "c (cell)" in plain(info)
            heat = app.query_one("#hidden-map")
            np.testing.assert_array_equal(heat.values, app.state.record.cell_state[0].T)
            await pilot.press("c")
            assert app.state.state_kind == "h"
            np.testing.assert_array_equal(heat.values, app.state.record.hidden[0].T)
            ranking = [u for u, _ in most_active_units(app.state.record.hidden[0], 24)]
            await pilot.press("a")  # the next unit down the ranking by mean |h|
            assert app.state.unit == ranking[(ranking.index(12) + 1) % 24]
            app.state.unit = ranking[-1]
            await pilot.press("a")
            assert app.state.unit == ranking[0]
            await pilot.press("left")
            assert app.state.cursor == len(app.state.doc) - 2
            # Mouse: a heatmap cell selects its unit and token; the text below moves the cursor.
            await pilot.click("#hidden-map", offset=(heat._gutter() + 5, 1))
            assert app.state.unit == heat.top + 1 and app.state.cursor == 5
            await pilot.click("#hidden-text", offset=(0, 0))
            assert app.state.record_cursor() == app.query_one("#hidden-text").index_at(0, 0)
            caption = plain(app.query_one("#hidden-caption"))
            assert f"h[{app.state.unit}]" in caption

    run(go())


def test_hidden_view_on_a_gru_has_no_cell_state(ckpts):
    async def go():
        app = make_app(ckpts["gru"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("2", "c")
            assert app.state.state_kind == "h" and "only an LSTM" in app.messages[-1]
            await pilot.press("right_square_bracket")
            assert app.state.layer == 0  # one layer only

    run(go())


def test_gates_view_cycles_gates_layers_and_units(ckpts):
    async def go():
        app = make_app(ckpts["lstm"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("3")
            info = app.query_one("#gates-info")
            seen = [app.state.gate]
            for _ in range(4):
                await pilot.press("g")
                seen.append(app.state.gate)
            assert seen == ["input", "forget", "cell", "output", "input"]
            assert "input gate" in plain(info)
            plots = list(app.query("SaturationPlot"))
            assert [p.title.split()[0].lstrip("▶") for p in plots] == ["input", "forget", "output"]
            assert all(len(p.low) == 24 for p in plots)
            await pilot.press("right_square_bracket", "down", "down")
            assert app.state.layer == 1 and app.state.unit == 2 and "layer 2/2" in plain(info)
            heat = app.query_one("#gates-map")
            np.testing.assert_array_equal(heat.values, app.state.record.gates[1]["input"].T)
            await pilot.click("#gates-map", offset=(heat._gutter() + 3, 0))
            assert app.state.cursor == 3

    run(go())


def test_gates_view_explains_a_plain_rnn(ckpts):
    async def go():
        app = make_app(ckpts["rnn"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("3", "g")
            assert "A plain RNN has no gates" in plain(app.query_one("#gates-info"))
            assert app.query_one("#sat-row").display is False

    run(go())


def test_gradient_view_loss_modes_and_comparison(ckpts):
    async def go():
        app = make_app(ckpts["lstm"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("4")
            chart = app.query_one("#grad-main")
            assert len(chart.series) == 2 and chart.series[0][0].startswith("L1 first/last")
            assert "L = loss at the last token" in plain(app.query_one("#grad-info"))
            await pilot.press("m")
            await settle(pilot)
            assert app.state.record.loss == "mean" and "mean loss over" in plain(app.query_one("#grad-info"))
            await pilot.press("m")
            await settle(pilot)
            assert app.state.record.loss == "last"
            # o: pick a second checkpoint (the RNN is listed first), shown beside the first.
            await pilot.press("o")
            assert isinstance(app.screen, CheckpointPicker) and app.screen.title_text == "Compare with…"
            await pilot.press("enter")
            await settle(pilot)
            assert app.state.compare is not None and app.state.compare.cell == "rnn"
            assert app.state.compare_record is not None and app.state.compare_record.tokens == app.state.record.tokens
            assert app.query_one("#grad-compare-col").display is True
            other = app.query_one("#grad-compare")
            assert other.yrange == chart.yrange  # one shared log axis: the comparison is honest
            assert "tiny-rnn.safetensors" in plain(app.query_one("#grad-compare-title"))
            await pilot.press("m")
            await settle(pilot)
            assert app.state.compare_record.loss == "mean"
            await pilot.click("#grad-main", offset=(6, 3))
            assert app.state.cursor == 0
            await pilot.press("x")
            assert app.state.compare is None and app.query_one("#grad-compare-col").display is False
            # o then esc: nothing changes.
            await pilot.press("o", "escape")
            assert app.state.compare is None and not isinstance(app.screen, CheckpointPicker)

    run(go())


def test_comparison_with_a_model_that_cannot_read_the_text(ckpts, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    from rnngen.checkpoint import Checkpoint, save_checkpoint
    from rnngen.model import ModelConfig, RNNLanguageModel
    from rnngen.tokenizers import CharTokenizer

    tok = CharTokenizer.fit("abc")
    config = ModelConfig(cell="rnn", vocab_size=3, embed=4, hidden=4, layers=1)
    save_checkpoint(other / "abc.safetensors",
                    Checkpoint(config, tok, {}, dict(RNNLanguageModel(config).state_dict())))

    async def go():
        app = make_app(ckpts["lstm"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("4")
            app.open_path(other / "abc.safetensors", "compare")
            await settle(pilot)
            assert app.state.compare_record is None and "cannot read this text" in app.state.compare_error
            assert "never seen" in plain(app.query_one("#grad-compare"))

    run(go())


def test_help_screen_and_quit_with_exit_code_zero(ckpts):
    async def go():
        app = make_app(ckpts["lstm"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert "Gradient" in plain(app.screen.query_one("#help-text"))
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)
            await pilot.press("question_mark", "q")  # q closes the help, not the app
            assert not isinstance(app.screen, HelpScreen) and app.is_running
            await pilot.press("q")
        assert app.return_code == 0

    run(go())


def test_without_a_checkpoint_the_picker_opens_one(ckpts):
    async def go():
        app = make_app(None)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, CheckpointPicker) and not app.screen.cancellable
            options = app.screen.query_one(OptionList)
            assert options.option_count == 3
            assert "tiny-rnn.safetensors" in str(options.get_option_at_index(0).prompt)
            await pilot.press("escape")  # nothing open yet: stays
            assert isinstance(app.screen, CheckpointPicker)
            await pilot.press("down", "enter")  # the LSTM
            await settle(pilot)
            assert app.state.opened is not None and app.state.opened.name == "tiny-lstm.safetensors"
            assert app.state.record is not None
            # ctrl+o opens another; esc keeps the current one.
            await pilot.press("ctrl+o")
            assert isinstance(app.screen, CheckpointPicker) and app.screen.cancellable
            await pilot.press("escape")
            assert app.state.opened.name == "tiny-lstm.safetensors"
            await pilot.press("ctrl+o", "down", "down", "enter")
            await settle(pilot)
            assert app.state.opened.name == "tiny-gru.safetensors" and app.state.record.cell == "gru"
            await pilot.press("ctrl+o", "q")
        assert app.return_code == 0

    run(go())


def test_picker_reports_a_checkpoint_that_will_not_open(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_file({"x": torch.zeros(1)}, str(folder / "future.safetensors"), metadata={"rnngen.format": "99"})

    async def go():
        app = make_app(None)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("enter")
            await settle(pilot)
            assert "newer rnngen" in app.messages[-1]
            assert isinstance(app.screen, CheckpointPicker) and app.state.opened is None
            await pilot.press("q")
        assert app.return_code == 0

    run(go())


def test_picker_with_no_checkpoints_says_how_to_make_one(tmp_path):
    async def go():
        app = make_app(None)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert "rnngen train" in plain(app.screen.query_one("#picker-empty"))
            await pilot.press("q")
        assert app.return_code == 0

    run(go())


# ---- the plain-data renderers -----------------------------------------------------------------


def test_render_heatmap_bins_time_and_marks_selection():
    values = np.linspace(-1, 1, 6 * 200).reshape(6, 200)
    text = render_heatmap(values, width=53, height=5, top=2, selected_row=3, cursor=199).plain.splitlines()
    assert len(text) == 5  # 4 unit rows + the axis
    assert text[0].startswith(" 2 ") and text[1].startswith("▶3 ")
    assert len(text[0]) == 53 and text[0].endswith("┃")  # 200 tokens in 50 columns: the cursor's bin
    assert text[-1].startswith("×4")
    axis = render_heatmap(values[:, :10], width=20, height=3, axis=list("abcdefghij")).plain.splitlines()[-1]
    assert axis.strip() == "abcdefghij"
    assert "nothing to show" in render_heatmap(np.zeros((0, 0)), width=10, height=3).plain


def test_time_axis_shrinks_long_texts_and_stretches_short_ones():
    long = TimeAxis.fit(156, 72)  # several tokens per column, every column used
    assert long.columns == 72 and long.starts[0] == 0 and long.ends[-1] == 156
    assert (long.ends > long.starts).all() and long.note == "×2.2"
    assert long.column_of(0) == 0 and long.column_of(155) == 71 and long.column_of(156) is None
    assert long.token_at(long.column_of(100)) <= 100 < long.ends[long.column_of(100)]
    np.testing.assert_allclose(long.mean(np.arange(156.0)[None])[0, 0], np.arange(long.ends[0]).mean())
    short = TimeAxis.fit(10, 35)  # three columns per token
    assert short.columns == 30 and short.note == "" and short.column_of(4) == 12
    assert short.first_columns().sum() == 10
    assert TimeAxis.fit(0, 10).columns == 0
    assert long.ticks().startswith("1 ")


def test_render_log_chart_is_log_scaled_and_leaves_zeros_blank():
    values = [1e-8, 1e-6, 1e-4, 1e-2, 1.0, 0.0]
    assert log_range([values]) == (-8, 0)
    lines = render_log_chart(values, width=12, height=10, lo=-8, hi=0, title="t").plain.splitlines()
    assert lines[0] == "t" and lines[1].startswith("    1┤") and lines[-2].startswith(" 1e-8┤")
    columns = ["".join(line[6 + c] for line in lines[1:-1]) for c in range(6)]
    heights = [sum(ch != " " for ch in col) for col in columns]
    assert heights == sorted(heights[:5]) + [0] and heights[4] == 8  # equal steps per decade
    assert heights[1] - heights[0] == heights[3] - heights[2]
    assert log_range([[0.0, 0.0]]) is None


def test_render_topk_and_saturation_and_layout():
    out = render_topk([Candidate("e", 0.5, 0.6, True), Candidate(" ", 0.25)], width=30, header="h",
                      entropy=1.0).plain.splitlines()
    assert out[0] == "h" and out[1] == "entropy 1.00 nats"
    assert out[2].startswith("▶e") and "0.500 0.600" in out[2] and "█" in out[2]
    assert out[3].startswith(" ␣") and out[3].count("█") * 2 <= out[2].count("█")
    sat = render_saturation([0.0, 0.0, 1.0], [1.0, 1.0, 0.0], width=12, height=6, title="forget").plain
    assert sat.splitlines()[0] == "forget" and "•" in sat and "·" in sat
    placed, lines = layout_tokens(["ab", "\n", "cd", " ef", " gh"], width=6)
    assert [(p.line, p.col, p.text) for p in placed] == [
        (0, 0, "ab"), (0, 2, "↵"), (1, 0, "cd"), (1, 2, " ef"), (2, 0, "gh")]
    assert lines == 3


# ---- snapshots: each view at 80x24 with a seeded tiny model ----------------------------------------


def snap_app(tmp_path: Path, name: str = "lstm") -> InspectApp:
    paths = place_checkpoints(tmp_path / "checkpoints")
    return make_app(paths[name])


def test_snapshot_sample_view(snap_compare, tmp_path):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("left", "left", "left")

    assert snap_compare(snap_app(tmp_path), terminal_size=(80, 24), run_before=before)


def test_snapshot_hidden_view(snap_compare, tmp_path):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("2", "down", "down", "left")

    assert snap_compare(snap_app(tmp_path), terminal_size=(80, 24), run_before=before)


def test_snapshot_gates_view(snap_compare, tmp_path):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("3", "g")

    assert snap_compare(snap_app(tmp_path), terminal_size=(80, 24), run_before=before)


def test_snapshot_gradient_view_compares_lstm_and_rnn(snap_compare, tmp_path):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("4", "o", "enter")
        await settle(pilot)

    assert snap_compare(snap_app(tmp_path), terminal_size=(80, 24), run_before=before)


def test_snapshot_help(snap_compare, tmp_path):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")

    assert snap_compare(snap_app(tmp_path), terminal_size=(80, 24), run_before=before)


def test_snapshot_picker(snap_compare, tmp_path):
    place_checkpoints(tmp_path / "checkpoints")
    assert snap_compare(make_app(None), terminal_size=(80, 24))


def test_snapshot_hidden_view_large_terminal(snap_compare, tmp_path):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("2", "c")

    assert snap_compare(snap_app(tmp_path), terminal_size=(120, 36), run_before=before)


# ---- the real program in a real terminal (tmux) ----------------------------------------------------------


TMUX = shutil.which("tmux")
# A private tmux server (own socket, no user config): another test's server cannot
# impose its window size on this one.
TMUX_CMD = [TMUX or "tmux", "-L", f"rnngen-tui-test-{os.getpid()}", "-f", "/dev/null"]


def capture(session: str) -> str:
    return subprocess.run([*TMUX_CMD, "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for(session: str, *needles: str, absent: tuple[str, ...] = (), timeout: float = 30.0) -> str:
    """Poll the pane until every needle is on screen and nothing in ``absent`` is."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(session)
        if all(n in screen for n in needles) and not any(a in screen for a in absent):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needles} (without {absent}) not on screen after {timeout}s:\n{screen}")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed: the real-terminal check needs it")
def test_real_tui_under_tmux(ckpts, tmp_path):
    rnngen = Path(sys.executable).parent / "rnngen"
    exit_file = tmp_path / "exit-code"
    session = f"rnngen-tui-test-{os.getpid()}"
    command = (f"{shlex.quote(str(rnngen))} tui {shlex.quote(str(ckpts['lstm']))} --seed 1 --prompt ROMEO: "
               f"--length 80; echo $? > {shlex.quote(str(exit_file))}")
    # COLUMNS/LINES (set by some runners, e.g. pytest-xdist workers) would override the pane size.
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"}
    subprocess.run([*TMUX_CMD, "new-session", "-d", "-s", session, "-x", "100", "-y", "30", command],
                   check=True, env=env, cwd=tmp_path)
    try:
        wait_for(session, "1 Sample", "ROMEO:", "86 tok", "entropy", "q quit")
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "2"], check=True)
        wait_for(session, "layer 1/2", "text coloured by h[0]")
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "Down", "Down"], check=True)
        wait_for(session, "unit 2/24")
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "4"], check=True)
        wait_for(session, "L = loss at the last token", "L2 first/last")
        # Type a new prompt into the sample view and generate from it, once the prompt has the focus
        # (the footer then shows no view keys).
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "1", "e"], check=True)  # e selects the whole prompt
        wait_for(session, "prompt ROMEO:", absent=("g generate",))
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "-l", "JULIET:"], check=True)
        wait_for(session, "prompt JULIET:")
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "Enter"], check=True)
        wait_for(session, "JULIET:", "87 tok")
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "?"], check=True)
        wait_for(session, "rnngen tui — help", "Everywhere")
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "Escape"], check=True)
        wait_for(session, "q quit", absent=("rnngen tui — help",))  # the help screen is gone
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 20
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exit_file.read_text().strip() == "0"
    finally:
        subprocess.run([*TMUX_CMD, "kill-server"], capture_output=True)
