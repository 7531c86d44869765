"""The inspector's state as a plain object: what is open, what it read, where the user is
looking and what is running. The app changes it (in answer to messages); the views only
read it. No Textual here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from rnngen.errors import RnngenError
from rnngen.model import GATE_NAMES
from rnngen.probe_stats import SIGMOID_GATES, most_active_units
from rnngen.probes import InspectionRecord, StepDetail
from rnngen.sampling import SamplingConfig, StepModel, choose_tokens, next_token_probs
from rnngen.tokenizers import display_pieces
from rnngen.tui.checkpoints import Opened
from rnngen.tui.inspector.copies import CopyMarks
from rnngen.unit_features import FeatureRanking, UnitScore, UnitsReport


@dataclass(frozen=True)
class Sampled:
    """The settings a text was generated with: a branch samples on with the same ones."""

    config: SamplingConfig
    length: int  # new tokens asked for


@dataclass(frozen=True)
class Branch:
    """What a branch replaced: the text and cursor that Backspace brings back."""

    doc: list[StepDetail]
    pieces: list[str]
    cursor: int


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
    # Branching in the sample view: the candidate chosen at the cursor (None: none yet),
    # the settings the text was sampled with, and the branches taken (newest last).
    choice: int | None = None
    sampled: Sampled | None = None
    branches: list[Branch] = field(default_factory=list)
    # What is running.
    gen_id: int = 0
    generating: bool = False
    inspecting: bool = False
    ranking: bool = False
    loading: bool = False
    error: str = ""
    # The copy check: stretches of the text found verbatim in the training corpus.
    copies: CopyMarks = field(default_factory=CopyMarks)

    @property
    def busy(self) -> bool:
        """True while a worker is loading, generating, inspecting, ranking units or checking copies."""
        return self.loading or self.generating or self.inspecting or self.ranking or self.copies.busy

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
        elif self.copies.busy:
            parts.append("checking copies…")
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
        self.choice, self.sampled, self.branches = None, None, []

    def new_text(self, sampled: Sampled) -> None:
        """A fresh generation starts: nothing read yet, no branches to step back to."""
        self.gen_id += 1
        self.doc, self.pieces = [], []
        self.record, self.record_pieces, self.compare_record, self.compare_error = None, [], None, None
        self.cursor, self.choice = 0, None
        self.generating, self.inspecting, self.error = True, False, ""
        self.sampled, self.branches = sampled, []

    def set_cursor(self, index: int) -> None:
        if self.doc:
            cursor = max(0, min(len(self.doc) - 1, index))
            if cursor != self.cursor:
                self.choice = None  # the choice was among another token's candidates
            self.cursor = cursor

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

    # -- branching: take another candidate at the cursor, sample on from there

    def candidates_at(self, t: int) -> list[tuple[int, float, float | None]]:
        """(token id, model p, sampling p) of the candidates shown at token ``t``, best
        first; the token that came is added at the end when it is not among them."""
        step = self.doc[t]
        if step.prob is None:
            return []
        out: list[tuple[int, float, float | None]] = [(i, p, None if step.prompt else sp) for i, p, sp in step.top]
        if all(i != step.token_id for i, _, _ in out):
            out.append((step.token_id, step.prob, step.sample_prob))
        return out

    def move_choice(self, delta: int) -> None:
        """Move the choice ``delta`` rows down the candidates (the first key press picks the top one)."""
        if not self.doc:
            return
        count = len(self.candidates_at(self.cursor))
        if count == 0:
            self.choice = None
        elif self.choice is None:
            self.choice = 0
        else:
            self.choice = max(0, min(count - 1, self.choice + delta))

    def take_choice(self) -> tuple[list[int], int]:
        """Put the chosen candidate at the cursor in place of the token that came, drop the
        text after it (kept for ``step_back``), and return the token ids to read and how
        many new tokens to sample after them (what the generation asked for, less those
        already there). Raises RnngenError when there is nothing to take."""
        if self.opened is None or not self.doc or self.sampled is None:
            raise RnngenError("nothing to branch from yet: press g to generate")
        if self.generating:
            raise RnngenError("wait until the text is complete, then branch")
        t = self.cursor
        step = self.doc[t]
        if step.prompt:
            raise RnngenError("the prompt is fixed: branch at a sampled token")
        candidates = self.candidates_at(t)
        if self.choice is None or not 0 <= self.choice < len(candidates):
            raise RnngenError("choose a candidate first (j / k), then enter")
        token, prob, sample_prob = candidates[self.choice]
        chosen = StepDetail(token, prob, sample_prob, step.entropy, step.top, False)
        self.branches.append(Branch(list(self.doc), list(self.pieces), t))
        self._set_text([*self.doc[:t], chosen], cursor=t)
        self.generating = True
        sampled_so_far = sum(not s.prompt for s in self.doc)
        return [s.token_id for s in self.doc], max(0, self.sampled.length - sampled_so_far)

    def chosen_positions(self) -> set[int]:
        """The tokens of the text that were chosen by hand: a branch's token is still in
        the text unless a later branch (or a step back) cut the text before it."""
        out: set[int] = set()
        for k, branch in enumerate(self.branches):
            later = self.branches[k + 1 :]
            if branch.cursor < len(self.doc) and all(b.cursor > branch.cursor for b in later):
                out.add(branch.cursor)
        return out

    def step_back(self) -> bool:
        """Undo the last branch (its text and cursor come back); with none left, drop the
        last sampled token. False when there is nothing to step back to."""
        if self.opened is None or self.generating:
            return False
        if self.branches:
            last = self.branches.pop()
            self._set_text(last.doc, cursor=last.cursor, pieces=last.pieces)
            return True
        if self.doc and not self.doc[-1].prompt:
            self._set_text(self.doc[:-1], cursor=len(self.doc) - 2)
            return True
        return False

    def _set_text(self, doc: list[StepDetail], *, cursor: int, pieces: list[str] | None = None) -> None:
        """A changed text: what was read of the old one is stale (``gen_id`` moves on)."""
        assert self.opened is not None
        self.gen_id += 1
        self.doc = doc
        self.pieces = pieces if pieces is not None else display_pieces(self.opened.tokenizer, [s.token_id for s in doc])
        self.record, self.record_pieces, self.compare_record, self.compare_error = None, [], None, None
        self.cursor, self.choice, self.error = max(0, cursor), None, ""

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


def sample_after(
    stepper: StepModel,
    ids: list[int],
    *,
    length: int,
    config: SamplingConfig,
    seed: int | None,
    top_k: int,
) -> Iterator[StepDetail]:
    """Read ``ids`` (a branch's text so far) and sample ``length`` tokens after them, each
    with its distribution, as ``probes.sample_with_details`` does after a prompt (reading
    ids, not text: a word or BPE text re-encoded may split differently)."""
    config.validate()
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    state = stepper.init_state(1)
    logits = None
    with torch.inference_mode():
        for token in ids:
            logits, state = stepper.step(torch.tensor([token]), state)
        if logits is None:
            return
        for _ in range(length):
            model_probs = torch.softmax(logits[0], -1)
            sample_probs = next_token_probs(logits, config)[0]
            new = choose_tokens(logits, config, generator)
            yield _detail(int(new[0]), model_probs, sample_probs, top_k)
            logits, state = stepper.step(new, state)


def _detail(token: int, model_probs: torch.Tensor, sample_probs: torch.Tensor, top_k: int) -> StepDetail:
    """A sampled token with the (V,) distributions it was drawn from (as probes records it)."""
    top_p, top_i = model_probs.topk(min(top_k, model_probs.shape[-1]))
    top = tuple((int(i), float(p), float(sample_probs[i])) for i, p in zip(top_i.tolist(), top_p.tolist()))
    entropy = float(-(model_probs * torch.log(model_probs.clamp_min(1e-30))).sum())
    return StepDetail(token, float(model_probs[token]), float(sample_probs[token]), entropy, top, False)
