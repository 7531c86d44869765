"""rnngen tui, sample view: stretches of the text found verbatim in the training corpus
(20+ characters, as ``rnngen novelty`` counts them) are marked, the line under the
settings gives the copied share and the longest shared stretch, ``c`` turns the marking
off and on, and a corpus that is not known, gone or changed is one line, never a crash.

The tiny models are untrained, so a copy is planted through the prompt: the sample text
starts with a line of the corpus."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.inspector import TEXT, run, save_tiny, settle
from rich.style import Style

from rnngen.builtin_corpora import corpora_dir
from rnngen.checkpoint import load_checkpoint, save_checkpoint
from rnngen.corpus import load_corpus
from rnngen.novelty import CorpusIndex, corpus_record
from rnngen.tui.inspector.app import InspectApp
from rnngen.tui.inspector.copies import check_text, tokens_in_spans
from rnngen.tui.inspector.views import COPIED_STYLE
from rnngen.tui.widgets import TokenText

COPIED_LINE = "But soft, what light through yonder window breaks?"  # a line of TEXT, 50 characters
LENGTH = 40


def corpus_file(folder: Path, text: str = TEXT) -> Path:
    path = folder / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return path


def checkpoint_recording(folder: Path, corpus: Path | None) -> Path:
    """A tiny checkpoint whose metadata records ``corpus`` as its training text (as training does)."""
    path = save_tiny(folder / "tiny-lstm.safetensors", "lstm")
    if corpus is not None:
        ckpt = load_checkpoint(path)
        ckpt.train["corpus"] = corpus_record(load_corpus(corpus).text, [corpus])
        save_checkpoint(path, ckpt)
    return path


def make_app(path: Path, prompt: str = COPIED_LINE, **options) -> InspectApp:
    loaded = load_checkpoint(path, with_training_state=False)
    return InspectApp(loaded, seed=1, prompt=prompt, length=LENGTH, checkpoints_dir=path.parent, **options)


def shown_text(app: InspectApp) -> str:
    return "".join(app.state.pieces)


def marked_styles(app: InspectApp) -> set[int]:
    """The tokens the text widget draws in the copied style."""
    widget = app.query_one("#sample-text", TokenText)
    return {i for i, style in enumerate(widget.token_styles) if style is not None and style.bold and style.italic}


def copy_line(app: InspectApp) -> str:
    return app.query_one("#copy-line").render().plain


def expected_marks(app: InspectApp, corpus_text: str) -> set[int]:
    """What an independent copy check of the shown text says is copied, as token indices."""
    report = CorpusIndex(corpus_text, cache=False).check(shown_text(app))
    return tokens_in_spans(app.state.pieces, report.copied)


def test_a_copied_stretch_is_marked_exactly_and_c_toggles_it(tmp_path):
    corpus = corpus_file(tmp_path)
    path = checkpoint_recording(tmp_path, corpus)

    async def go():
        app = make_app(path)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            text = shown_text(app)
            assert text.startswith(COPIED_LINE) and len(text) > len(COPIED_LINE)
            expected = expected_marks(app, TEXT)
            # The prompt is a line of the corpus: every one of its characters is marked
            # (the model may happen to continue the line a little, the check says how far).
            assert set(range(len(COPIED_LINE))) <= expected
            assert marked_styles(app) == expected == app.state.copies.marked(app.state.pieces)
            report = app.state.copies.report
            assert report is not None and report.longest is not None
            line = copy_line(app)
            assert line == f"copied {report.copied_share:.0%} in stretches ≥ 20 chars · longest {report.longest.length} chars at corpus.txt:2"
            # The marks survive the other colouring and the cursor moving.
            await pilot.press("left", "u")
            assert marked_styles(app) == expected
            await pilot.press("u", "c")
            assert marked_styles(app) == set() and "not marked (c: mark them)" in copy_line(app)
            await pilot.press("c")
            assert marked_styles(app) == expected
            # The built index is cached (the next session reads it instead of building it).
            assert list((corpora_dir() / "cache").glob("novelty-*.npy"))

    run(go())


def test_a_fresh_text_is_not_marked(tmp_path):
    corpus = corpus_file(tmp_path, "a corpus that holds none of the sampled text.\n" * 20)
    path = checkpoint_recording(tmp_path, None)  # records nothing: the corpus is given instead

    async def go():
        app = make_app(path, prompt="ROMEO:", corpus=load_corpus(corpus))
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert app.state.copies.report is not None
            assert expected_marks(app, corpus.read_text(encoding="utf-8")) == set()
            assert marked_styles(app) == set()
            assert copy_line(app).startswith("copied 0% in stretches ≥ 20 chars · longest")

    run(go())


def test_branching_and_stepping_back_mark_the_new_text(tmp_path):
    corpus = corpus_file(tmp_path)
    path = checkpoint_recording(tmp_path, corpus)

    async def go():
        app = make_app(path)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            before = shown_text(app)
            # Branch one token after the prompt: the prompt stays copied, the rest is new.
            await pilot.press("home", *["right"] * (len(COPIED_LINE) + 2), "j", "j", "enter")
            await settle(pilot)
            assert shown_text(app) != before
            assert app.state.copies.text == shown_text(app)
            assert marked_styles(app) == expected_marks(app, TEXT)
            assert set(range(len(COPIED_LINE))) <= marked_styles(app)
            await pilot.press("backspace")
            await settle(pilot)
            assert shown_text(app) == before and app.state.copies.text == before
            assert marked_styles(app) == expected_marks(app, TEXT)
            await pilot.press("g")  # a new text is checked again
            await settle(pilot)
            assert app.state.copies.text == shown_text(app)
            assert marked_styles(app) == expected_marks(app, TEXT)

    run(go())


def test_an_unknown_missing_or_changed_corpus_is_one_line_not_a_crash(tmp_path):
    corpus = corpus_file(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cases = {"unrecorded": checkpoint_recording(tmp_path / "a", None), "changed": checkpoint_recording(tmp_path / "b", corpus)}
    expected = {
        "unrecorded": "no copy check (--corpus PATH): the checkpoint does not record its corpus",
        "changed": "no copy check (--corpus PATH): the training corpus",
        "missing": "no copy check (--corpus PATH): cannot read the training corpus: file not found",
    }
    corpus.write_text(TEXT + "one more line\n", encoding="utf-8")  # edited after training

    async def check(path: Path, what: str) -> None:
        app = make_app(path)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            line = copy_line(app)
            assert line.startswith(expected[what]), line
            assert "\n" not in line
            if what == "changed":
                assert "has changed since training" in line
            assert marked_styles(app) == set() and app.state.copies.report is None
            await pilot.press("c", "g")  # the keys still work; nothing breaks
            await settle(pilot)
            assert app.state.doc and app.return_code is None

    async def go():
        await check(cases["unrecorded"], "unrecorded")
        await check(cases["changed"], "changed")
        corpus.unlink()
        await check(cases["changed"], "missing")

    run(go())


def test_copied_style_is_distinct_from_the_branch_underline():
    assert COPIED_STYLE.bold and COPIED_STYLE.italic and not COPIED_STYLE.underline
    assert (Style(underline=True) + COPIED_STYLE).underline


def test_snapshot_sample_view_marks_copies(snap_compare, tmp_path):
    corpus = corpus_file(tmp_path)
    path = checkpoint_recording(tmp_path, corpus)

    async def before(pilot):
        await settle(pilot)

    assert snap_compare(make_app(path), terminal_size=(80, 24), run_before=before)


# ---- the command line: rnngen tui CKPT --corpus PATH ----------------------------------------------


def test_tui_refuses_a_corpus_it_cannot_read(tmp_path):
    path = save_tiny(tmp_path / "tiny-lstm.safetensors", "lstm")
    result = run_cli("tui", path, "--corpus", tmp_path / "missing.txt", ok=False)
    assert result.exit_code == 2
    assert "--corpus: no such file or folder" in result.output and "Traceback" not in result.output


TMUX = shutil.which("tmux")
TMUX_CMD = [TMUX or "tmux", "-L", f"rnngen-copies-test-{os.getpid()}", "-f", "/dev/null"]


def wait_for_screen(session: str, *needles: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = subprocess.run(
            [*TMUX_CMD, "capture-pane", "-p", "-t", session], capture_output=True, text=True
        ).stdout
        if all(n in screen for n in needles):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needles} not on screen after {timeout}s:\n{screen}")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed: the real-terminal check needs it")
def test_real_tui_with_corpus_option_marks_copies(tmp_path):
    """The real program: --corpus names the training text; the copy line reports the planted copy."""
    corpus = corpus_file(tmp_path)
    path = save_tiny(tmp_path / "tiny-lstm.safetensors", "lstm")
    rnngen = Path(sys.executable).parent / "rnngen"
    session = f"rnngen-copies-test-{os.getpid()}"
    command = " ".join(
        shlex.quote(str(a))
        for a in [rnngen, "tui", path, "--corpus", corpus, "--seed", "1", "--length", "10", f"--prompt={COPIED_LINE}"]
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"}
    subprocess.run([*TMUX_CMD, "new-session", "-d", "-s", session, "-x", "100", "-y", "30", command],
                   check=True, env=env, cwd=tmp_path)
    try:
        wait_for_screen(session, "in stretches ≥ 20 chars · longest 50 chars at corpus.txt:2", "c copies")
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "c"], check=True)
        wait_for_screen(session, "copies from corpus.txt: not marked (c: mark them)")
        subprocess.run([*TMUX_CMD, "send-keys", "-t", session, "q"], check=True)
    finally:
        subprocess.run([*TMUX_CMD, "kill-server"], capture_output=True)


def test_tokens_in_spans_marks_every_token_that_overlaps_a_stretch():
    pieces = ["But", " soft", ",", " what", " light", "\n"]  # offsets 0-3, 3-8, 8-9, 9-14, 14-20, 20-21
    assert tokens_in_spans(pieces, []) == set()
    assert tokens_in_spans(pieces, [(4, 9)]) == {1, 2}
    assert tokens_in_spans(pieces, [(0, 1), (13, 15), (20, 21)]) == {0, 3, 4, 5}
    assert tokens_in_spans(["", "ab", ""], [(0, 2)]) == {1}  # an empty piece holds no copied character


def test_a_word_level_model_counts_copied_stretches_in_words():
    index = CorpusIndex("the quick brown fox jumps over the lazy dog\n" * 3, cache=False)
    assert check_text(index, "# quick brown fox #", "word").copied == []  # 3 words, 17 characters
    assert check_text(index, "# quick brown fox jumps over #", "word").threshold == "5 words"
    assert check_text(index, "# quick brown fox jumps over #", "word").copied == [(1, 29)]
    assert check_text(index, "# quick brown fox jumps over #", "char").threshold == "20 chars"


def test_a_trained_checkpoint_finds_its_own_corpus(char_ckpt, english_corpus):
    """No --corpus: ``rnngen train`` recorded the corpus, and the inspector reads it back."""
    line = "Before we proceed any further, hear me speak."  # a line of the training text

    async def go():
        app = InspectApp(load_checkpoint(char_ckpt, with_training_state=False), seed=1, prompt=line, length=20)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert set(range(len(line))) <= marked_styles(app)
            assert marked_styles(app) == expected_marks(app, english_corpus.read_text(encoding="utf-8"))
            assert re.search(r"longest \d+ chars at english\.txt:\d+$", copy_line(app))

    run(go())
