"""``rnngen tui``: sample from a model and look inside it, in four views.

1 Sample    generate; tokens coloured by probability; top-k candidates at the cursor
2 Hidden    units x time heatmap of h (or c); the text coloured by one unit
3 Gates     gate activations over time; saturation of every unit
4 Gradient  ||dL/dh_t|| through time per layer, log scale; a second checkpoint beside it

All model work (loading, sampling, inspecting) runs in thread workers that post
messages back, so the interface never waits on torch. The numbers come from
rnngen.probes; this package only draws them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.events import Click
from textual.message import Message
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer
from textual.worker import get_current_worker

from rnngen.checkpoint import Checkpoint
from rnngen.errors import RnngenError
from rnngen.model import GATE_NAMES
from rnngen.probes import (
    SIGMOID_GATES,
    InspectionRecord,
    StepDetail,
    display_pieces,
    inspect_ids,
    inspect_text,
    most_active_units,
    sample_with_details,
)
from rnngen.sampling import SamplingConfig
from rnngen.tui.screens.help import HelpScreen
from rnngen.tui.screens.picker import CheckpointPicker
from rnngen.tui.screens.views import GatesView, GradientView, HiddenView, SampleView, View, focus_now
from rnngen.tui.session import Opened, open_checkpoint, open_loaded

VIEWS = [("sample", "Sample"), ("hidden", "Hidden"), ("gates", "Gates"), ("gradient", "Gradient")]
INSPECT_WINDOW = 1000  # tokens: the views show the last ones of longer texts
TOP_K = 8
MAX_LENGTH = 5000


# ---- messages from the workers ------------------------------------------------------------


class Generated(Message):
    def __init__(self, gen_id: int, steps: list[StepDetail], done: bool) -> None:
        super().__init__()
        self.gen_id, self.steps, self.done = gen_id, steps, done


class Failed(Message):
    def __init__(self, gen_id: int, error: str) -> None:
        super().__init__()
        self.gen_id, self.error = gen_id, error


class Inspected(Message):
    def __init__(self, gen_id: int, record: InspectionRecord | None, compare: InspectionRecord | None,
                 compare_error: str | None) -> None:
        super().__init__()
        self.gen_id, self.record, self.compare, self.compare_error = gen_id, record, compare, compare_error


class Loaded(Message):
    def __init__(self, purpose: str, opened: Opened | None, error: str | None) -> None:
        super().__init__()
        self.purpose, self.opened, self.error = purpose, opened, error


# ---- the bar of views ---------------------------------------------------------------------


class ViewBar(Widget):
    """One line: the four views (click or 1-4) and what is open and happening."""

    DEFAULT_CSS = "ViewBar { height: 1; width: 1fr; text-wrap: nowrap; text-overflow: clip; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.active = "sample"
        self.status = ""
        self._spans: list[tuple[int, int, str]] = []

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        self._spans = []
        for i, (name, label) in enumerate(VIEWS):
            start = len(out)
            style = "bold reverse #f0a030" if name == self.active else "bold"
            out.append(f" {i + 1} {label} ", style=style)
            self._spans.append((start, len(out), name))
        width = self.content_size.width
        status = self.status
        room = width - len(out) - 1
        if room > 3:
            if len(status) > room:
                status = status[: room - 1] + "…"
            out.append(" " * (room - len(status) + 1))
            out.append(status, style="dim")
        return out

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for start, end, name in self._spans:
            if start <= offset.x < end:
                self.app.action_show_view(name)  # type: ignore[attr-defined]


# ---- the app ------------------------------------------------------------------------------


class InspectApp(App[int]):
    """The interactive inspector. ``loaded``: an open checkpoint, or None to pick one."""

    CSS_PATH = "app.tcss"
    TITLE = "rnngen tui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("1", "show_view('sample')", "views", key_display="1-4"),
        Binding("2", "show_view('hidden')", "hidden", show=False),
        Binding("3", "show_view('gates')", "gates", show=False),
        Binding("4", "show_view('gradient')", "gradient", show=False),
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
    ) -> None:
        super().__init__()
        self.checkpoints_dir = Path(checkpoints_dir)
        self.initial = loaded
        self.initial_prompt = prompt or ""
        self.initial_length = length
        self.initial_temperature = temperature
        self.seed = seed
        self.generations = 0
        # What is open and what it read.
        self.opened: Opened | None = None
        self.compare: Opened | None = None
        self.doc: list[StepDetail] = []
        self.pieces: list[str] = []
        self.record: InspectionRecord | None = None
        self.record_pieces: list[str] = []
        self.compare_record: InspectionRecord | None = None
        self.compare_error: str | None = None
        # Where the user is looking.
        self.view = "sample"
        self.cursor = 0
        self.layer = 0
        self.unit = 0
        self.state_kind = "h"
        self.gate = ""
        self.loss_mode = "last"
        self.colour_by = "prob"
        # What is running.
        self.gen_id = 0
        self.generating = False
        self.inspecting = False
        self.loading = False
        self.error = ""
        self.messages: list[str] = []  # every notification shown, newest last

    # -- layout

    def compose(self) -> ComposeResult:
        yield ViewBar(id="viewbar")
        with ContentSwitcher(initial="sample", id="views"):
            yield SampleView(id="sample")
            yield HiddenView(id="hidden")
            yield GatesView(id="gates")
            yield GradientView(id="gradient")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        sample = self.query_one(SampleView)
        from textual.widgets import Input

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

    @property
    def busy(self) -> bool:
        """True while a worker is loading, generating or inspecting."""
        return self.loading or self.generating or self.inspecting

    # -- views and status

    def current_view(self) -> View:
        return self.query_one(f"#{self.view}", View)

    def action_show_view(self, name: str) -> None:
        self.view = name
        self.query_one(ContentSwitcher).current = name
        bar = self.query_one(ViewBar)
        bar.active = name
        bar.refresh()
        view = self.current_view()
        view.refresh_from(self)
        focus_now(view)

    def action_focus_view(self) -> None:
        focus_now(self.current_view())

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def status_text(self) -> str:
        if self.opened is None:
            return "no checkpoint" if not self.loading else "opening…"
        parts = [self.opened.name, self.opened.summary]
        if self.doc:
            parts.append(f"{len(self.doc)} tok")
        if self.loading:
            parts.append("opening…")
        elif self.generating:
            parts.append("generating…")
        elif self.inspecting:
            parts.append("inspecting…")
        elif self.error:
            parts.append("error")
        return " · ".join(parts)

    def waiting_message(self) -> str:
        if self.opened is None:
            return "no checkpoint open (ctrl+o)"
        if self.error:
            return self.error
        if self.generating:
            return "generating… the views fill in when the text is complete"
        if self.inspecting:
            return "reading the text step by step…"
        return "nothing to inspect yet: press 1, then g to generate"

    def refresh_views(self) -> None:
        """Redraw the status and the visible view (the others redraw when shown)."""
        bar = self.query_one(ViewBar)
        bar.status = self.status_text()
        bar.refresh()
        self.current_view().refresh_from(self)

    # -- opening checkpoints

    def set_opened(self, opened: Opened) -> None:
        self.opened = opened
        self.gen_id += 1
        self.doc, self.pieces = [], []
        self.record, self.record_pieces = None, []
        self.cursor, self.layer, self.unit, self.state_kind = 0, 0, 0, "h"
        self.gate = (SIGMOID_GATES[opened.cell] or ("",))[0]
        self.error = ""
        self.start_generation()

    def _picked_main(self, path: Path | None) -> None:
        if path is not None:
            self.open_path(path, "main")

    def _picked_compare(self, path: Path | None) -> None:
        if path is not None:
            self.open_path(path, "compare")

    def open_path(self, path: Path, purpose: str = "main") -> None:
        """Open a checkpoint in a worker: as the main model, or to compare with it."""
        self.loading = True
        self.refresh_views()
        self.load_checkpoint_worker(Path(path), purpose)

    def action_open_main(self) -> None:
        self.push_screen(CheckpointPicker(self.checkpoints_dir, cancellable=self.opened is not None),
                         self._picked_main)

    def action_open_compare(self) -> None:
        if self.opened is None:
            return
        self.push_screen(CheckpointPicker(self.checkpoints_dir, title="Compare with…"), self._picked_compare)

    def drop_compare(self) -> None:
        self.compare, self.compare_record, self.compare_error = None, None, None
        self.refresh_views()

    @work(thread=True, exclusive=True, group="load")
    def load_checkpoint_worker(self, path: Path, purpose: str) -> None:
        try:
            opened = open_checkpoint(path)
        except RnngenError as exc:
            self.post_message(Loaded(purpose, None, str(exc)))
            return
        self.post_message(Loaded(purpose, opened, None))

    def on_loaded(self, message: Loaded) -> None:
        self.loading = False
        if message.opened is None:
            self.tell(message.error or "could not open the checkpoint", severity="error", timeout=8)
            self.refresh_views()
            if self.opened is None and message.purpose == "main":
                self.push_screen(CheckpointPicker(self.checkpoints_dir, cancellable=False), self._picked_main)
            return
        if message.purpose == "main":
            self.set_opened(message.opened)
        else:
            self.compare, self.compare_record, self.compare_error = message.opened, None, None
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
        if self.opened is None:
            return
        try:
            prompt, config, length = self.sampling_settings()
        except RnngenError as exc:
            self.tell(str(exc).replace("--", ""), severity="error", timeout=6)
            return
        self.gen_id += 1
        self.doc, self.pieces = [], []
        self.record, self.record_pieces, self.compare_record, self.compare_error = None, [], None, None
        self.cursor = 0
        self.generating, self.inspecting, self.error = True, False, ""
        seed = None if self.seed is None else self.seed + self.generations
        self.generations += 1
        self.refresh_views()
        self.generate_worker(self.gen_id, self.opened, prompt, config, length, seed)

    @work(thread=True, exclusive=True, group="generate")
    def generate_worker(self, gen_id: int, opened: Opened, prompt: str, config: SamplingConfig, length: int,
                        seed: int | None) -> None:
        worker = get_current_worker()
        batch: list[StepDetail] = []
        last = time.monotonic()
        try:
            for step in sample_with_details(opened.model, opened.tokenizer, prompt=prompt, length=length,
                                            config=config, seed=seed, top_k=TOP_K, step_model=opened.stepper):
                if worker.is_cancelled:
                    return
                batch.append(step)
                now = time.monotonic()
                if now - last > 0.05:
                    self.post_message(Generated(gen_id, batch, False))
                    batch, last = [], now
        except RnngenError as exc:
            self.post_message(Failed(gen_id, str(exc)))
            return
        self.post_message(Generated(gen_id, batch, True))

    def on_generated(self, message: Generated) -> None:
        if message.gen_id != self.gen_id or self.opened is None:
            return
        after = self.pieces[-1][-1:] if self.pieces else ""
        ids = [s.token_id for s in message.steps]
        self.doc.extend(message.steps)
        self.pieces.extend(display_pieces(self.opened.tokenizer, ids, after=after))
        self.cursor = max(0, len(self.doc) - 1)
        if message.done:
            self.generating = False
            self.start_inspection()
        else:
            self.refresh_views()

    def on_failed(self, message: Failed) -> None:
        if message.gen_id != self.gen_id:
            return
        self.generating = self.inspecting = False
        self.error = message.error
        self.tell(message.error, severity="error", timeout=8)
        self.refresh_views()

    # -- inspecting

    def start_inspection(self) -> None:
        if self.opened is None or not self.doc:
            self.refresh_views()
            return
        self.inspecting = True
        self.refresh_views()
        ids = [s.token_id for s in self.doc]
        text = "".join(self.pieces)
        self.inspect_worker(self.gen_id, self.opened, self.compare, ids, text, self.loss_mode)

    @work(thread=True, exclusive=True, group="inspect")
    def inspect_worker(self, gen_id: int, opened: Opened, compare: Opened | None, ids: list[int], text: str,
                       loss: str) -> None:
        offset = max(0, len(ids) - INSPECT_WINDOW)
        try:
            record = inspect_ids(opened.model, ids[offset:], tokenizer=opened.tokenizer, top_k=TOP_K, loss=loss)
            record.offset = offset
        except RnngenError as exc:
            self.post_message(Failed(gen_id, str(exc)))
            return
        other, other_error = None, None
        if compare is not None:
            try:
                other = inspect_text(compare.model, compare.tokenizer, text, top_k=TOP_K, loss=loss,
                                     max_tokens=INSPECT_WINDOW)
            except RnngenError as exc:
                other_error = f"{compare.name} cannot read this text: {exc}"
        self.post_message(Inspected(gen_id, record, other, other_error))

    def on_inspected(self, message: Inspected) -> None:
        if message.gen_id != self.gen_id or self.opened is None:
            return
        self.inspecting = False
        self.record = message.record
        assert self.record is not None
        self.record_pieces = display_pieces(self.opened.tokenizer, self.record.token_ids)
        self.compare_record, self.compare_error = message.compare, message.compare_error
        self.clamp_selection()
        self.refresh_views()

    def toggle_loss(self) -> None:
        self.loss_mode = "mean" if self.loss_mode == "last" else "last"
        if self.doc and not self.generating:
            self.gen_id += 1  # results of an earlier inspection are stale now
            self.start_inspection()
        else:
            self.refresh_views()

    # -- selection: cursor, layer, unit, gate

    def set_cursor(self, index: int) -> None:
        if not self.doc:
            return
        self.cursor = max(0, min(len(self.doc) - 1, index))
        self.refresh_views()

    def move_cursor(self, delta: int) -> None:
        self.set_cursor(self.cursor + delta)

    def record_cursor(self) -> int | None:
        """The cursor as an index into the inspection record (None if outside its window)."""
        if self.record is None:
            return None
        i = self.cursor - self.record.offset
        return i if 0 <= i < self.record.num_tokens else None

    def select(self, *, unit: int | None = None, record_step: int | None = None) -> None:
        if unit is not None:
            self.unit = unit
        if record_step is not None and self.record is not None:
            self.cursor = self.record.offset + record_step
        self.clamp_selection()
        self.refresh_views()

    def clamp_selection(self) -> None:
        if self.record is None:
            return
        self.layer = max(0, min(self.record.layers - 1, self.layer))
        self.unit = max(0, min(self.record.hidden_size - 1, self.unit))
        if self.record.cell != "lstm":
            self.state_kind = "h"
        names = GATE_NAMES[self.record.cell]
        if names and self.gate not in names:
            self.gate = names[0]
        if self.doc:
            self.cursor = max(0, min(len(self.doc) - 1, self.cursor))

    def change_unit(self, delta: int) -> None:
        self.unit += delta
        self.clamp_selection()
        self.refresh_views()

    def change_layer(self, delta: int) -> None:
        self.layer += delta
        self.clamp_selection()
        self.refresh_views()

    def toggle_state(self) -> None:
        if self.record is not None and self.record.cell == "lstm":
            self.state_kind = "c" if self.state_kind == "h" else "h"
        else:
            self.tell("only an LSTM has a cell state c", timeout=3)
        self.refresh_views()

    def next_gate(self) -> None:
        if self.record is None:
            return
        names = GATE_NAMES[self.record.cell]
        if names:
            self.gate = names[(names.index(self.gate) + 1) % len(names)] if self.gate in names else names[0]
        self.refresh_views()

    def state_values(self) -> np.ndarray:
        """(T, H) values of the chosen state (h or c) of the chosen layer."""
        assert self.record is not None
        if self.state_kind == "c" and self.record.cell_state is not None:
            return self.record.cell_state[self.layer]
        return self.record.hidden[self.layer]

    def unit_scale(self) -> float:
        if self.record is None or self.state_kind == "h":
            return 1.0
        return max(1.0, float(np.abs(self.state_values()).max()))

    def next_active_unit(self) -> None:
        if self.record is None:
            return
        ranking = [u for u, _ in most_active_units(self.state_values(), self.record.hidden_size)]
        i = ranking.index(self.unit) if self.unit in ranking else -1
        self.unit = ranking[(i + 1) % len(ranking)]
        self.refresh_views()

    def unit_values_for_doc(self) -> list[float | None]:
        """The selected unit's value at every token of the text (None outside the record)."""
        out: list[float | None] = [None] * len(self.doc)
        if self.record is None:
            return out
        column = self.state_values()[:, self.unit]
        for i, v in enumerate(column):
            j = self.record.offset + i
            if j < len(out):
                out[j] = float(v)
        return out
