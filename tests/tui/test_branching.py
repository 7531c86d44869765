"""rnngen tui, sample view: the candidates at the cursor are a choice. j / k choose one,
enter takes it in place of the sampled token and samples on from it (a branch),
backspace steps back. Every view follows the branch: the record they read equals a
fresh inspection of the new text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers.inspector import run, save_tiny, settle

from rnngen.checkpoint import load_checkpoint
from rnngen.probes import InspectionRecord, inspect_ids
from rnngen.tui.inspector.app import TOP_K, InspectApp
from rnngen.tui.widgets import Heatmap, TopKBars

PROMPT = "ROMEO:"
LENGTH = 40


def make_app(path: Path, level_prompt: str = PROMPT) -> InspectApp:
    loaded = load_checkpoint(path, with_training_state=False)
    return InspectApp(loaded, seed=1, prompt=level_prompt, length=LENGTH, checkpoints_dir=path.parent)


def ids_of(app: InspectApp) -> list[int]:
    return [step.token_id for step in app.state.doc]


def assert_record_is_a_fresh_inspection(app: InspectApp) -> InspectionRecord:
    """The record every view reads is what inspecting the shown text from scratch gives."""
    s = app.state
    assert s.opened is not None and s.record is not None
    fresh = inspect_ids(s.opened.model, ids_of(app), tokenizer=s.opened.tokenizer, top_k=TOP_K, loss=s.loss_mode)
    record = s.record
    assert record.offset == 0 and record.token_ids == fresh.token_ids
    assert record.top_k_ids == fresh.top_k_ids
    np.testing.assert_allclose(
        np.array(record.token_probs[1:], dtype=float), np.array(fresh.token_probs[1:], dtype=float), rtol=1e-6
    )
    for layer in range(record.layers):
        np.testing.assert_allclose(record.hidden[layer], fresh.hidden[layer], atol=1e-6)
        if record.cell_state is not None and fresh.cell_state is not None:
            np.testing.assert_allclose(record.cell_state[layer], fresh.cell_state[layer], atol=1e-6)
        for name, values in fresh.gates[layer].items():
            np.testing.assert_allclose(record.gates[layer][name], values, atol=1e-6)
    # The sample view's probabilities (from sampling) agree with the record's (from reading).
    shown = np.array([step.prob for step in s.doc[1:]], dtype=float)
    np.testing.assert_allclose(shown, np.array(fresh.token_probs[1:], dtype=float), atol=1e-5)
    return fresh


def test_choosing_the_second_candidate_branches_and_backspace_restores(tmp_path):
    path = save_tiny(tmp_path / "tiny-lstm.safetensors", "lstm")

    async def go():
        app = make_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            s = app.state
            before_ids, before_pieces = ids_of(app), list(s.pieces)
            assert len(before_ids) == len(PROMPT) + LENGTH
            t = len(PROMPT) + 10  # a sampled token in the middle of the text
            await pilot.press("home", *["right"] * t)
            assert s.cursor == t and s.choice is None
            await pilot.press("j", "j")
            assert s.choice == 1
            bars = app.query_one("#topk-bars", TopKBars)
            assert bars.selected == 1 and "enter: take" in bars.note
            token, prob, _ = s.candidates_at(t)[1]
            await pilot.press("enter")
            await settle(pilot)
            # The text up to the cursor is kept, the chosen token is at the cursor, new text follows.
            after_ids = ids_of(app)
            assert after_ids[:t] == before_ids[:t] and after_ids[t] == token
            assert s.pieces[t] == s.opened.tokenizer.token_text(token)
            assert s.doc[t].prob == prob and not s.doc[t].prompt
            assert len(after_ids) == len(before_ids)  # the same n new tokens in all
            assert s.cursor == t and s.choice is None and len(s.branches) == 1
            assert "(chosen)" in bars.header and s.chosen_positions() == {t}
            underlined = [i for i, st in enumerate(app.query_one("#sample-text").token_styles) if st and st.underline]
            assert underlined == [t]
            fresh = assert_record_is_a_fresh_inspection(app)
            # The hidden view draws the branch's states.
            await pilot.press("2")
            heat = app.query_one("#hidden-map", Heatmap)
            np.testing.assert_allclose(heat.values, fresh.hidden[s.layer].T, atol=1e-6)
            # Backspace (in the sample view) brings the text before the branch back, and its record.
            await pilot.press("1", "backspace")
            await settle(pilot)
            assert ids_of(app) == before_ids and s.pieces == before_pieces
            assert s.cursor == t and s.branches == []
            assert_record_is_a_fresh_inspection(app)

    run(go())


def test_branches_stack_and_backspace_then_drops_sampled_tokens_only(tmp_path):
    path = save_tiny(tmp_path / "tiny-gru.safetensors", "gru", layers=1)

    async def go():
        app = make_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            s = app.state
            texts = [ids_of(app)]
            last = len(texts[0]) - 1
            # A branch, a branch inside it (after its choice: both choices stay in the text),
            # then one further left that cuts both off.
            for back, chosen in ((30, {last - 30}), (12, {last - 30, last - 12}), (35, {last - 35})):
                await pilot.press("end", *["left"] * back, "j", "j", "j", "k", "enter")
                await settle(pilot)
                texts.append(ids_of(app))
                assert texts[-1] != texts[-2] and len(s.branches) == len(texts) - 1
                assert s.cursor == last - back and s.chosen_positions() == chosen
            assert_record_is_a_fresh_inspection(app)
            for expected in reversed(texts[:-1]):
                await pilot.press("backspace")
                await settle(pilot)
                assert ids_of(app) == expected
            # No branch left: backspace drops the last sampled token, never the prompt.
            await pilot.press("backspace")
            await settle(pilot)
            assert ids_of(app) == texts[0][:-1]
            assert_record_is_a_fresh_inspection(app)
            for _ in range(LENGTH):
                await pilot.press("backspace")
                await settle(pilot)
            assert len(s.doc) == len(PROMPT) and all(step.prompt for step in s.doc)
            assert "nothing to step back to" in app.messages[-1]

    run(go())


def test_enter_needs_a_choice_at_a_sampled_token(tmp_path):
    path = save_tiny(tmp_path / "tiny-rnn.safetensors", "rnn")

    async def go():
        app = make_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            s = app.state
            before = ids_of(app)
            await pilot.press("enter")  # nothing chosen yet
            await settle(pilot)
            assert ids_of(app) == before and "choose a candidate first" in app.messages[-1]
            await pilot.press("home", "right", "right", "j", "enter")  # a prompt token
            await settle(pilot)
            assert ids_of(app) == before and "the prompt is fixed" in app.messages[-1]
            await pilot.press("home", "j")  # the first token has no candidates
            assert s.choice is None
            # Moving the cursor drops a choice: it was among another token's candidates.
            await pilot.press("end", "j", "left")
            assert s.choice is None
            # Branching at the last token keeps the text's length: nothing to sample after it.
            await pilot.press("end", "j", "j", "enter")
            await settle(pilot)
            after = ids_of(app)
            assert after[:-1] == before[:-1] and after[-1] == s.candidates_at(len(after) - 1)[1][0]
            assert_record_is_a_fresh_inspection(app)
            # g starts a new text: no branches to step back to.
            await pilot.press("g")
            await settle(pilot)
            assert s.branches == []

    run(go())


def test_a_branch_at_word_level_reads_token_ids_not_retokenised_text(tmp_path):
    path = save_tiny(tmp_path / "tiny-word.safetensors", "lstm", level="word")

    async def go():
        app = make_app(path, level_prompt="ROMEO :")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            s = app.state
            before = ids_of(app)
            t = len(before) - 15
            await pilot.press("end", *["left"] * 14, "j", "j", "enter")
            await settle(pilot)
            after = ids_of(app)
            assert s.cursor == t and after[:t] == before[:t] and after[t] == s.candidates_at(t)[1][0]
            assert "".join(s.pieces) == s.opened.tokenizer.decode(after)
            assert_record_is_a_fresh_inspection(app)

    run(go())


def test_snapshot_sample_view_choosing_a_candidate(snap_compare, tmp_path):
    path = save_tiny(tmp_path / "tiny-lstm.safetensors", "lstm")

    async def before(pilot):
        await settle(pilot)
        await pilot.press("left", "left", "left", "j", "j")

    assert snap_compare(make_app(path), terminal_size=(80, 24), run_before=before)


def test_snapshot_sample_view_after_a_branch(snap_compare, tmp_path):
    """The chosen token is underlined in the text and its panel says "(chosen)"."""
    path = save_tiny(tmp_path / "tiny-lstm.safetensors", "lstm")

    async def before(pilot):
        await settle(pilot)
        await pilot.press(*["left"] * 8, "j", "j", "enter")
        await settle(pilot)

    assert snap_compare(make_app(path), terminal_size=(80, 24), run_before=before)
