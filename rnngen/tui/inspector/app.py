"""``rnngen tui``: sample from a model and look inside it, in six views.

1 Sample    generate; tokens coloured by probability; top-k candidates at the cursor
2 Hidden    units x time heatmap of h (or c); the text coloured by one unit
3 Gates     gate activations over time; saturation of every unit
4 Gradient  ||dL/dh_t|| through time per layer, log scale; a second checkpoint beside it
5 Equations the cell's equations for one unit and token, with the numbers filled in
6 Units     which units track which feature of the text; the text coloured by one

All model work (loading, sampling, inspecting) runs in thread workers that post
messages back, so the interface never waits on torch. What is open and selected lives
in a plain ``InspectorState`` (tui/state.py) that the views read; the views ask for
changes with messages (tui/messages.py) that this app answers. The numbers come from
rnngen.probes; this package only draws them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.filter import LineFilter
from textual.widgets import ContentSwitcher, Footer, Input
from textual.worker import get_current_worker

from rnngen.checkpoint import Checkpoint
from rnngen.corpus import Corpus
from rnngen.errors import RnngenError
from rnngen.novelty import CorpusIndex
from rnngen.probes import InspectionRecord, StepDetail, inspect_ids, inspect_text, sample_with_details
from rnngen.sampling import SamplingConfig
from rnngen.tokenizers import display_pieces
from rnngen.tui.checkpoints import Opened, open_checkpoint, open_loaded
from rnngen.tui.control_filter import DROP_CONTROLS
from rnngen.tui.inspector import messages as msg
from rnngen.tui.inspector.copies import check_text, failure_note, open_corpus_index
from rnngen.tui.inspector.equation_view import EquationView
from rnngen.tui.inspector.state import InspectorState, Sampled, sample_after
from rnngen.tui.inspector.units_view import UnitsView
from rnngen.tui.inspector.viewbar import ViewBar
from rnngen.tui.inspector.views import GatesView, GradientView, HiddenView, SampleView, View, focus_now
from rnngen.tui.screens.help import HelpScreen
from rnngen.tui.screens.picker import CheckpointPicker
from rnngen.unit_features import rank_record

INSPECT_WINDOW = 1000  # tokens: the views show the last ones of longer texts
TOP_K = 8
MAX_LENGTH = 5000


def tui_setting(name: str) -> str:
    """How the inspector names a setting in an error: ``top_p`` -> ``top-p``."""
    return name.replace("_", "-")


# ---- the app ------------------------------------------------------------------------------


class InspectApp(App[int]):
    """The interactive inspector. ``loaded``: an open checkpoint, or None to pick one."""

    CSS_PATH = "app.tcss"
    TITLE = "rnngen tui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("1", "show_view('sample')", "views", key_display="1-6"),
        Binding("2", "show_view('hidden')", "hidden", show=False),
        Binding("3", "show_view('gates')", "gates", show=False),
        Binding("4", "show_view('gradient')", "gradient", show=False),
        Binding("5", "show_view('equations')", "equations", show=False),
        Binding("6", "show_view('units')", "units", show=False),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
        Binding("ctrl+o", "open_main", "open", show=False),
        Binding("escape", "focus_view", "view", show=False),
    ]

    def __init__(
        self,
        loaded: Checkpoint | Opened | None = None,
        *,
        checkpoints_dir: Path | str = Path("checkpoints"),
        prompt: str | None = None,
        length: int = 200,
        seed: int | None = None,
        temperature: float = 0.8,
        corpus: Corpus | None = None,
    ) -> None:
        super().__init__()
        self.checkpoints_dir = Path(checkpoints_dir)
        self.initial = loaded
        self.initial_prompt = prompt or ""
        self.initial_length = length
        self.initial_temperature = temperature
        self.seed = seed
        self.generations = 0
        self.state = InspectorState()
        self.state.copies.corpus = corpus  # --corpus: else the copy check reads the checkpoint's record
        self.messages: list[str] = []  # every notification shown, newest last

    @property
    def busy(self) -> bool:
        """True while a worker is loading, generating or inspecting."""
        return self.state.busy

    # -- layout

    def get_line_filters(self) -> Sequence[LineFilter]:
        return [*super().get_line_filters(), DROP_CONTROLS]  # no control character reaches the terminal raw

    def compose(self) -> ComposeResult:
        yield ViewBar(id="viewbar")
        with ContentSwitcher(initial="sample", id="views"):
            yield SampleView(self.state, id="sample")
            yield HiddenView(self.state, id="hidden")
            yield GatesView(self.state, id="gates")
            yield GradientView(self.state, id="gradient")
            yield EquationView(self.state, id="equations")
            yield UnitsView(self.state, id="units")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        sample = self.query_one(SampleView)
        sample.query_one("#prompt", Input).value = self.initial_prompt
        sample.query_one("#length", Input).value = str(self.initial_length)
        sample.query_one("#temp", Input).value = f"{self.initial_temperature:g}"
        self.action_show_view("sample")
        if isinstance(self.initial, Checkpoint):
            self.set_opened(open_loaded(self.initial))
        elif isinstance(self.initial, Opened):
            self.set_opened(self.initial)
        else:
            self.refresh_views()
            self.push_screen(CheckpointPicker(self.checkpoints_dir, cancellable=False), self._picked_main)

    def tell(self, message: str, severity: str = "information", timeout: float = 6) -> None:
        """Show a notification (and remember it)."""
        self.messages.append(message)
        self.notify(message, severity=severity, timeout=timeout)  # type: ignore[arg-type]

    # -- views and status

    def current_view(self) -> View:
        return self.query_one(f"#{self.state.view}", View)

    def action_show_view(self, name: str) -> None:
        self.state.view = name
        self.start_ranking()
        self.query_one(ContentSwitcher).current = name
        bar = self.query_one(ViewBar)
        bar.active = name
        bar.refresh()
        view = self.current_view()
        view.refresh_from(self.state)
        focus_now(view)

    def on_show_view(self, message: msg.ShowView) -> None:
        self.action_show_view(message.name)

    def action_focus_view(self) -> None:
        focus_now(self.current_view())

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def refresh_views(self) -> None:
        """Redraw the status and the visible view (the others redraw when shown)."""
        self.bar_status()
        self.current_view().refresh_from(self.state)

    def bar_status(self) -> None:
        bar = self.query_one(ViewBar)
        bar.status = self.state.status_text()
        bar.refresh()

    # -- opening checkpoints

    def set_opened(self, opened: Opened) -> None:
        self.state.reset_for(opened)
        self.start_corpus_index()
        self.start_generation()

    def _picked_main(self, path: Path | None) -> None:
        if path is not None:
            self.open_path(path, "main")

    def _picked_compare(self, path: Path | None) -> None:
        if path is not None:
            self.open_path(path, "compare")

    def open_path(self, path: Path, purpose: str = "main") -> None:
        """Open a checkpoint in a worker: as the main model, or to compare with it."""
        self.state.loading = True
        self.refresh_views()
        self.load_checkpoint_worker(Path(path), purpose)

    def action_open_main(self) -> None:
        self.push_screen(
            CheckpointPicker(self.checkpoints_dir, cancellable=self.state.opened is not None), self._picked_main
        )

    def action_open_compare(self) -> None:
        if self.state.opened is None:
            return
        self.push_screen(CheckpointPicker(self.checkpoints_dir, title="Compare with…"), self._picked_compare)

    def on_open_compare(self, message: msg.OpenCompare) -> None:
        self.action_open_compare()

    def on_drop_compare(self, message: msg.DropCompare) -> None:
        s = self.state
        s.compare, s.compare_record, s.compare_error = None, None, None
        self.refresh_views()

    @work(thread=True, exclusive=True, group="load")
    def load_checkpoint_worker(self, path: Path, purpose: str) -> None:
        try:
            opened = open_checkpoint(path)
        except RnngenError as exc:
            self.post_message(msg.Loaded(purpose, None, str(exc)))
            return
        self.post_message(msg.Loaded(purpose, opened, None))

    def on_loaded(self, message: msg.Loaded) -> None:
        s = self.state
        s.loading = False
        if message.opened is None:
            self.tell(message.error or "could not open the checkpoint", severity="error", timeout=8)
            self.refresh_views()
            if s.opened is None and message.purpose == "main":
                self.push_screen(CheckpointPicker(self.checkpoints_dir, cancellable=False), self._picked_main)
            return
        if message.purpose == "main":
            self.set_opened(message.opened)
        else:
            s.compare, s.compare_record, s.compare_error = message.opened, None, None
            self.start_inspection()

    # -- generating

    def sampling_settings(self) -> tuple[str, SamplingConfig, int]:
        raw = self.query_one(SampleView).settings()
        try:
            config = SamplingConfig(temperature=float(raw["temp"]), top_k=int(raw["topk"]), top_p=float(raw["topp"]))
        except ValueError:
            raise RnngenError("T and p take numbers, k a whole number (e.g. T 0.8, k 0, p 1.0)") from None
        config.validate()
        try:
            length = int(raw["length"])
        except ValueError:
            raise RnngenError("n takes a whole number of tokens") from None
        if not 1 <= length <= MAX_LENGTH:
            raise RnngenError(f"n must be between 1 and {MAX_LENGTH}")
        return raw["prompt"], config, length

    def start_generation(self) -> None:
        s = self.state
        if s.opened is None:
            return
        try:
            prompt, config, length = self.sampling_settings()
        except RnngenError as exc:
            self.tell(exc.render(tui_setting), severity="error", timeout=6)
            return
        s.new_text(Sampled(config, length))
        seed = self.next_seed()
        self.refresh_views()
        self.generate_worker(s.gen_id, s.opened, prompt, config, length, seed)

    def next_seed(self) -> int | None:
        """The n-th generation (or branch) uses seed + n, so a session replays exactly."""
        seed = None if self.seed is None else self.seed + self.generations
        self.generations += 1
        return seed

    def on_generate(self, message: msg.Generate) -> None:
        self.start_generation()

    @work(thread=True, exclusive=True, group="generate")
    def generate_worker(
        self, gen_id: int, opened: Opened, prompt: str, config: SamplingConfig, length: int, seed: int | None
    ) -> None:
        worker = get_current_worker()
        batch: list[StepDetail] = []
        last = time.monotonic()
        try:
            for step in sample_with_details(
                opened.model,
                opened.tokenizer,
                prompt=prompt,
                length=length,
                config=config,
                seed=seed,
                top_k=TOP_K,
                step_model=opened.stepper,
            ):
                if worker.is_cancelled:
                    return
                batch.append(step)
                now = time.monotonic()
                if now - last > 0.05:
                    self.post_message(msg.Generated(gen_id, batch, False))
                    batch, last = [], now
        except RnngenError as exc:
            self.post_message(msg.Failed(gen_id, str(exc)))
            return
        self.post_message(msg.Generated(gen_id, batch, True))

    # -- branching: another candidate at the cursor, then sampling on from it

    def on_move_choice(self, message: msg.MoveChoice) -> None:
        self.state.move_choice(message.delta)
        self.refresh_views()

    def on_take_choice(self, message: msg.TakeChoice) -> None:
        s = self.state
        try:
            ids, length = s.take_choice()
        except RnngenError as exc:
            self.tell(exc.render(tui_setting), timeout=4)
            return
        assert s.opened is not None and s.sampled is not None
        self.refresh_views()
        self.branch_worker(s.gen_id, s.opened, ids, s.sampled.config, length, self.next_seed())

    @work(thread=True, exclusive=True, group="generate")
    def branch_worker(
        self, gen_id: int, opened: Opened, ids: list[int], config: SamplingConfig, length: int, seed: int | None
    ) -> None:
        worker = get_current_worker()
        batch: list[StepDetail] = []
        last = time.monotonic()
        try:
            for step in sample_after(opened.stepper, ids, length=length, config=config, seed=seed, top_k=TOP_K):
                if worker.is_cancelled:
                    return
                batch.append(step)
                now = time.monotonic()
                if now - last > 0.05:
                    self.post_message(msg.Generated(gen_id, batch, False, follow=False))
                    batch, last = [], now
        except RnngenError as exc:
            self.post_message(msg.Failed(gen_id, str(exc)))
            return
        self.post_message(msg.Generated(gen_id, batch, True, follow=False))

    def on_step_back(self, message: msg.StepBack) -> None:
        if self.state.step_back():
            self.start_inspection()  # the restored text is read again, as any new text is
        else:
            self.tell("nothing to step back to" if not self.state.generating else "wait for the text", timeout=3)

    def on_generated(self, message: msg.Generated) -> None:
        s = self.state
        if message.gen_id != s.gen_id or s.opened is None:
            return
        after = s.pieces[-1][-1:] if s.pieces else ""
        ids = [step.token_id for step in message.steps]
        s.doc.extend(message.steps)
        s.pieces.extend(display_pieces(s.opened.tokenizer, ids, after=after))
        if message.follow:
            s.cursor = max(0, len(s.doc) - 1)
        if message.done:
            s.generating = False
            self.start_inspection()
        else:
            self.refresh_views()

    def on_failed(self, message: msg.Failed) -> None:
        s = self.state
        if message.gen_id != s.gen_id:
            return
        s.generating = s.inspecting = False
        s.error = message.error
        self.tell(message.error, severity="error", timeout=8)
        self.refresh_views()

    # -- inspecting

    def start_inspection(self) -> None:
        self.start_copy_check()  # a complete text (generated, branched or stepped back): check it too
        s = self.state
        if s.opened is None or not s.doc:
            self.refresh_views()
            return
        s.inspecting = True
        self.refresh_views()
        ids = [step.token_id for step in s.doc]
        self.inspect_worker(s.gen_id, s.opened, s.compare, ids, "".join(s.pieces), s.loss_mode)

    @work(thread=True, exclusive=True, group="inspect")
    def inspect_worker(
        self, gen_id: int, opened: Opened, compare: Opened | None, ids: list[int], text: str, loss: str
    ) -> None:
        offset = max(0, len(ids) - INSPECT_WINDOW)
        try:
            record = inspect_ids(opened.model, ids[offset:], tokenizer=opened.tokenizer, top_k=TOP_K, loss=loss)
            record.offset = offset
        except RnngenError as exc:
            self.post_message(msg.Failed(gen_id, str(exc)))
            return
        other, other_error = None, None
        if compare is not None:
            try:
                other = inspect_text(
                    compare.model, compare.tokenizer, text, top_k=TOP_K, loss=loss, max_tokens=INSPECT_WINDOW
                )
            except RnngenError as exc:
                other_error = f"{compare.name} cannot read this text: {exc}"
        self.post_message(msg.Inspected(gen_id, record, other, other_error))

    def on_inspected(self, message: msg.Inspected) -> None:
        s = self.state
        if message.gen_id != s.gen_id or s.opened is None:
            return
        s.inspecting = False
        s.record = message.record
        assert s.record is not None
        s.record_pieces = display_pieces(s.opened.tokenizer, s.record.token_ids)
        s.compare_record, s.compare_error = message.compare, message.compare_error
        s.clamp_selection()
        self.start_ranking()
        self.refresh_views()

    # -- ranking units (view 6), once per inspected text, when the view is shown

    def start_ranking(self) -> None:
        s = self.state
        if s.view != "units" or s.record is None or s.opened is None or s.ranking or s.units_record is s.record:
            return
        s.ranking = True
        self.bar_status()
        self.rank_units_worker(s.record, s.opened)

    @work(thread=True, exclusive=True, group="units")
    def rank_units_worker(self, record: InspectionRecord, opened: Opened) -> None:
        try:
            report = rank_record(record, opened.tokenizer)
        except RnngenError as exc:
            self.post_message(msg.UnitsRanked(record, None, str(exc)))
            return
        self.post_message(msg.UnitsRanked(record, report, None))

    def on_units_ranked(self, message: msg.UnitsRanked) -> None:
        s = self.state
        s.ranking = False
        if message.record is s.record:
            if message.report is not None:
                s.set_units(message.report)
            else:
                s.units, s.units_record, s.units_error = None, message.record, message.error or "could not rank"
        self.start_ranking()  # the text changed meanwhile: rank the new one
        self.refresh_views()

    def on_choose_feature(self, message: msg.ChooseFeature) -> None:
        self.state.choose_feature(message.delta, to=message.to)
        self.refresh_views()

    def on_choose_rank(self, message: msg.ChooseRank) -> None:
        self.state.choose_rank(message.delta, to=message.to)
        self.refresh_views()

    def on_toggle_loss(self, message: msg.ToggleLoss) -> None:
        s = self.state
        s.loss_mode = "mean" if s.loss_mode == "last" else "last"
        if s.doc and not s.generating:
            s.gen_id += 1  # results of an earlier inspection are stale now
            self.start_inspection()
        else:
            self.refresh_views()

    # -- selection: cursor, layer, unit, gate, colouring

    def on_move_cursor(self, message: msg.MoveCursor) -> None:
        s = self.state
        if message.to is not None:
            s.set_cursor(message.to if message.to >= 0 else len(s.doc) - 1)
        else:
            s.set_cursor(s.cursor + message.delta)
        self.refresh_views()

    def on_select_at(self, message: msg.SelectAt) -> None:
        self.state.select(unit=message.unit, record_step=message.record_step)
        self.refresh_views()

    def on_change_unit(self, message: msg.ChangeUnit) -> None:
        self.state.unit += message.delta
        self.state.clamp_selection()
        self.refresh_views()

    def on_change_layer(self, message: msg.ChangeLayer) -> None:
        self.state.layer += message.delta
        self.state.clamp_selection()
        self.refresh_views()

    def on_toggle_state(self, message: msg.ToggleState) -> None:
        s = self.state
        if s.record is not None and s.record.cell == "lstm":
            s.state_kind = "c" if s.state_kind == "h" else "h"
        else:
            self.tell("only an LSTM has a cell state c", timeout=3)
        self.refresh_views()

    def on_next_gate(self, message: msg.NextGate) -> None:
        self.state.next_gate()
        self.refresh_views()

    def on_next_active_unit(self, message: msg.NextActiveUnit) -> None:
        self.state.next_active_unit()
        self.refresh_views()

    def on_toggle_colour(self, message: msg.ToggleColour) -> None:
        self.state.colour_by = "unit" if self.state.colour_by == "prob" else "prob"
        self.refresh_views()

    # -- the copy check: stretches of the text found verbatim in the training corpus

    def start_corpus_index(self) -> None:
        """Read (or build) the corpus index in a worker: the --corpus one once, else the
        newly opened checkpoint's recorded corpus."""
        s, copies = self.state, self.state.copies
        if s.opened is None or (copies.corpus is not None and (copies.index is not None or copies.loading)):
            return
        load_id = copies.start_loading()
        self.corpus_index_worker(load_id, copies.corpus, s.opened.train)

    @work(thread=True, exclusive=True, group="corpus")
    def corpus_index_worker(self, load_id: int, corpus: Corpus | None, train: dict) -> None:
        try:
            index, label = open_corpus_index(corpus, train)
        except (RnngenError, OSError, ValueError, MemoryError) as exc:  # a line on the screen, never a crash
            self.post_message(msg.CorpusIndexed(load_id, None, "", failure_note(exc)))
            return
        self.post_message(msg.CorpusIndexed(load_id, index, label, None))

    def on_corpus_indexed(self, message: msg.CorpusIndexed) -> None:
        copies = self.state.copies
        if message.load_id != copies.load_id:
            return  # another checkpoint was opened meanwhile
        copies.loading = False
        copies.index, copies.label, copies.note = message.index, message.label, message.error or ""
        self.start_copy_check()
        self.refresh_views()

    def start_copy_check(self) -> None:
        s, copies = self.state, self.state.copies
        if copies.index is None or s.opened is None or s.generating or not s.doc:
            return
        text = "".join(s.pieces)
        if text in (copies.text, copies.checking):
            return
        copies.checking = text
        self.copy_check_worker(copies.index, text, s.opened.tokenizer.level)

    @work(thread=True, exclusive=True, group="copies")
    def copy_check_worker(self, index: CorpusIndex, text: str, level: str) -> None:
        try:
            report = check_text(index, text, level)
        except (RnngenError, ValueError, MemoryError):
            report = None
        self.post_message(msg.CopiesChecked(text, report))

    def on_copies_checked(self, message: msg.CopiesChecked) -> None:
        s, copies = self.state, self.state.copies
        if message.text == copies.checking:
            copies.checking = None
        if s.opened is not None and message.text == "".join(s.pieces):
            copies.text, copies.report = message.text, message.report
        self.start_copy_check()  # the text changed while it was checked: check the new one
        self.refresh_views()

    def on_toggle_copies(self, message: msg.ToggleCopies) -> None:
        self.state.copies.on = not self.state.copies.on
        self.refresh_views()
