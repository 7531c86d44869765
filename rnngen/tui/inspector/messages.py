"""The inspector's messages: results its workers post, and what the views ask for.

Views never call the app: they post one of these (they bubble up to the app), and the
app changes the ``InspectorState`` and redraws.
"""

from __future__ import annotations

from textual.message import Message

from rnngen.novelty import CorpusIndex, NoveltyReport
from rnngen.probes import InspectionRecord, StepDetail
from rnngen.tui.checkpoints import Opened
from rnngen.unit_features import UnitsReport

# ---- from the workers ----------------------------------------------------------------------


class Generated(Message):
    """New tokens; ``follow``: the cursor moves to the last (a branch keeps it at its choice)."""

    def __init__(self, gen_id: int, steps: list[StepDetail], done: bool, *, follow: bool = True) -> None:
        super().__init__()
        self.gen_id, self.steps, self.done, self.follow = gen_id, steps, done, follow


class Failed(Message):
    def __init__(self, gen_id: int, error: str) -> None:
        super().__init__()
        self.gen_id, self.error = gen_id, error


class Inspected(Message):
    def __init__(
        self, gen_id: int, record: InspectionRecord | None, compare: InspectionRecord | None, compare_error: str | None
    ) -> None:
        super().__init__()
        self.gen_id, self.record, self.compare, self.compare_error = gen_id, record, compare, compare_error


class UnitsRanked(Message):
    """The units of ``record`` ranked against the features of its text (or why not)."""

    def __init__(self, record: InspectionRecord, report: UnitsReport | None, error: str | None) -> None:
        super().__init__()
        self.record, self.report, self.error = record, report, error


class CorpusIndexed(Message):
    """The copy check's corpus index for request ``load_id`` (or why there is none)."""

    def __init__(self, load_id: int, index: CorpusIndex | None, label: str, error: str | None) -> None:
        super().__init__()
        self.load_id, self.index, self.label, self.error = load_id, index, label, error


class CopiesChecked(Message):
    """The copy report of ``text`` (None: the check failed)."""

    def __init__(self, text: str, report: NoveltyReport | None) -> None:
        super().__init__()
        self.text, self.report = text, report


class Loaded(Message):
    def __init__(self, purpose: str, opened: Opened | None, error: str | None) -> None:
        super().__init__()
        self.purpose, self.opened, self.error = purpose, opened, error


# ---- from the views ------------------------------------------------------------------------


class ShowView(Message):
    """Switch to view ``name`` (sample, hidden, gates, gradient)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class MoveCursor(Message):
    """Move the cursor by ``delta`` tokens, or to token ``to`` (-1: the last)."""

    def __init__(self, delta: int = 0, *, to: int | None = None) -> None:
        super().__init__()
        self.delta, self.to = delta, to


class SelectAt(Message):
    """Select a unit and/or a step of the inspection record (a click on a chart)."""

    def __init__(self, *, unit: int | None = None, record_step: int | None = None) -> None:
        super().__init__()
        self.unit, self.record_step = unit, record_step


class ChangeUnit(Message):
    def __init__(self, delta: int) -> None:
        super().__init__()
        self.delta = delta


class ChangeLayer(Message):
    def __init__(self, delta: int) -> None:
        super().__init__()
        self.delta = delta


class ChooseFeature(Message):
    """Units view: show the feature ``delta`` rows down (negative: up), or feature ``to``."""

    def __init__(self, delta: int = 0, *, to: int | None = None) -> None:
        super().__init__()
        self.delta, self.to = delta, to


class ChooseRank(Message):
    """Units view: select the ranked unit ``delta`` rows down (negative: up), or row ``to``."""

    def __init__(self, delta: int = 0, *, to: int | None = None) -> None:
        super().__init__()
        self.delta, self.to = delta, to


class Generate(Message):
    """Generate again with the settings in the sample view."""


class MoveChoice(Message):
    """Sample view: move the choice ``delta`` rows down the candidates at the cursor."""

    def __init__(self, delta: int) -> None:
        super().__init__()
        self.delta = delta


class TakeChoice(Message):
    """Sample view: take the chosen candidate at the cursor and sample on from it (a branch)."""


class StepBack(Message):
    """Sample view: undo the last branch (or drop the last sampled token)."""


class ToggleColour(Message):
    """Colour the sample by probability or by the selected unit."""


class ToggleCopies(Message):
    """Sample view: mark the stretches copied from the training corpus, or not."""


class ToggleState(Message):
    """Show h or (LSTM) c."""


class NextActiveUnit(Message):
    """Select the next most active unit."""


class NextGate(Message):
    """Show the next gate."""


class ToggleLoss(Message):
    """Gradient of the loss at the last token, or of the mean loss."""


class OpenCompare(Message):
    """Pick a second checkpoint to compare with."""


class DropCompare(Message):
    """Stop comparing."""
