"""The inspector's state as a plain object: what is open, what it read, where the user is
looking and what is running. The app changes it (in answer to messages); the views only
read it. No Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnngen.model import GATE_NAMES
from rnngen.probe_stats import SIGMOID_GATES, most_active_units
from rnngen.probes import InspectionRecord, StepDetail
from rnngen.tui.checkpoints import Opened
from rnngen.unit_features import FeatureRanking, UnitScore, UnitsReport


@dataclass
class InspectorState:
    # What is open and what it read.
    opened: Opened | None = None
    compare: Opened | None = None
    doc: list[StepDetail] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)
    record: InspectionRecord | None = None
    record_pieces: list[str] = field(default_factory=list)
    compare_record: InspectionRecord | None = None
    compare_error: str | None = None
    # The units view: which units track which feature of the record's text.
    units: UnitsReport | None = None
    units_record: InspectionRecord | None = None  # the record ``units`` ranks
    units_error: str = ""
    feature: int = 0  # index into units.features
    rank: int = 0  # index into that feature's ranked units
    # Where the user is looking.
    view: str = "sample"
    cursor: int = 0
    layer: int = 0
    unit: int = 0
    state_kind: str = "h"
    gate: str = ""
    loss_mode: str = "last"
    colour_by: str = "prob"
    # What is running.
    gen_id: int = 0
    generating: bool = False
    inspecting: bool = False
    ranking: bool = False
    loading: bool = False
    error: str = ""

    @property
    def busy(self) -> bool:
        """True while a worker is loading, generating, inspecting or ranking units."""
        return self.loading or self.generating or self.inspecting or self.ranking

    # -- what to say

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
        elif self.ranking:
            parts.append("ranking units…")
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

    # -- changes

    def reset_for(self, opened: Opened) -> None:
        """A newly opened checkpoint: nothing generated, the selection back at the start."""
        self.opened = opened
        self.gen_id += 1
        self.doc, self.pieces = [], []
        self.record, self.record_pieces = None, []
        self.units, self.units_record, self.units_error = None, None, ""
        self.cursor, self.layer, self.unit, self.state_kind = 0, 0, 0, "h"
        self.gate = (SIGMOID_GATES[opened.cell] or ("",))[0]
        self.error = ""

    def set_cursor(self, index: int) -> None:
        if self.doc:
            self.cursor = max(0, min(len(self.doc) - 1, index))

    def select(self, *, unit: int | None = None, record_step: int | None = None) -> None:
        if unit is not None:
            self.unit = unit
        if record_step is not None and self.record is not None:
            self.cursor = self.record.offset + record_step
        self.clamp_selection()

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

    def next_gate(self) -> None:
        if self.record is None:
            return
        names = GATE_NAMES[self.record.cell]
        if names:
            self.gate = names[(names.index(self.gate) + 1) % len(names)] if self.gate in names else names[0]

    def next_active_unit(self) -> None:
        if self.record is None:
            return
        ranking = [u for u, _ in most_active_units(self.state_values(), self.record.hidden_size)]
        i = ranking.index(self.unit) if self.unit in ranking else -1
        self.unit = ranking[(i + 1) % len(ranking)]

    # -- the units view

    def units_ready(self) -> bool:
        """True when ``units`` ranks the current record (not an earlier one)."""
        return self.units is not None and self.record is not None and self.units_record is self.record

    def set_units(self, report: UnitsReport) -> None:
        """A new ranking: show the first feature some unit tracks, and select its best unit."""
        self.units, self.units_record, self.units_error = report, self.record, ""
        self.feature = next((i for i, f in enumerate(report.features) if f.units), 0)
        self.rank = 0
        self._select_ranked()

    def feature_ranking(self) -> FeatureRanking | None:
        if self.units is None or not self.units.features:
            return None
        return self.units.features[max(0, min(len(self.units.features) - 1, self.feature))]

    def ranked_unit(self) -> UnitScore | None:
        ranking = self.feature_ranking()
        if ranking is None or not ranking.units:
            return None
        return ranking.units[max(0, min(len(ranking.units) - 1, self.rank))]

    def choose_feature(self, delta: int = 0, *, to: int | None = None) -> None:
        if self.units is None or not self.units.features:
            return
        count = len(self.units.features)
        self.feature = (to if to is not None else self.feature + delta) % count
        self.rank = 0
        self._select_ranked()

    def choose_rank(self, delta: int = 0, *, to: int | None = None) -> None:
        ranking = self.feature_ranking()
        if ranking is None or not ranking.units:
            return
        self.rank = max(0, min(len(ranking.units) - 1, to if to is not None else self.rank + delta))
        self._select_ranked()

    def _select_ranked(self) -> None:
        """The chosen ranked unit becomes the selection every view shows."""
        score = self.ranked_unit()
        if score is not None:
            self.layer, self.unit, self.state_kind = score.layer, score.unit, score.state
            self.clamp_selection()

    # -- what the views draw

    def record_cursor(self) -> int | None:
        """The cursor as an index into the inspection record (None if outside its window)."""
        if self.record is None:
            return None
        i = self.cursor - self.record.offset
        return i if 0 <= i < self.record.num_tokens else None

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
