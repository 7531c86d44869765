"""6 Units: which units track which feature of the text (Karpathy, Johnson & Fei-Fei 2015).

The ranking is ``rnngen.unit_features.rank_record`` on the inspection record (the same
numbers ``rnngen units`` would rank), computed in a worker the first time the view is
shown for a text. Left: every feature with its best unit; right: the chosen feature's
ranked units (|r|, and for a yes/no feature a one-unit probe's held-out accuracy beside
the base rate). The chosen unit becomes the selection of every view: the text below is
coloured by it, and a strip shows its value against the feature token by token.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Static

from rnngen.tui.inspector import messages as msg
from rnngen.tui.inspector.state import InspectorState
from rnngen.tui.inspector.views import CURSOR_KEYS, View, activation_legend, focus_now
from rnngen.tui.widgets import TokenText
from rnngen.tui.widgets.colors import activation_rgb, bg_style
from rnngen.tui.widgets.featurestrip import FeatureStrip
from rnngen.tui.widgets.rowlist import RowList
from rnngen.unit_features import FeatureRanking, UnitScore, UnitsReport

NAME_WIDTH = 19
LABEL_WIDTH = 9


def _accuracy(score: UnitScore, ranking: FeatureRanking) -> str:
    if score.probe_acc is None:
        return ""
    return (
        f"{score.probe_acc:.2f}/{ranking.base_rate:.2f}" if ranking.base_rate is not None else f"{score.probe_acc:.2f}"
    )


def feature_rows(report: UnitsReport) -> list[Text]:
    """One row per feature: its name, its best unit, r and (yes/no features) probe/base."""
    rows = []
    for f in report.features:
        row = Text(f"{f.name[: NAME_WIDTH - 1]:<{NAME_WIDTH}}", no_wrap=True, overflow="crop")
        if not f.units:
            row.append("constant in this text" if f.constant else "no unit ranked", style="dim")
        else:
            best = f.units[0]
            row.append(f"{best.label:<{LABEL_WIDTH}}", style="bold")
            row.append(f"{best.r:+.2f}  ")
            row.append(_accuracy(best, f), style="dim")
        rows.append(row)
    return rows


def ranked_rows(ranking: FeatureRanking) -> list[Text]:
    rows = []
    for score in ranking.units:
        row = Text(f"{score.label:<{LABEL_WIDTH}}", style="bold", no_wrap=True, overflow="crop")
        row.append(f"{score.r:+.2f}  ", style="")
        row.append(_accuracy(score, ranking), style="")
        rows.append(row)
    return rows


def ranked_header(ranking: FeatureRanking) -> list[Text]:
    if ranking.kind == "binary":
        what = f"yes on {ranking.mean:.0%} of tokens"
        columns = f"{'unit':<{LABEL_WIDTH}}{'r':>5}  acc/base"
    else:
        what = f"mean {ranking.mean:.3g}, sd {ranking.std:.3g}"
        columns = f"{'unit':<{LABEL_WIDTH}}{'r':>5}"
    return [
        Text(ranking.name, style="bold #f0a030", no_wrap=True, overflow="ellipsis"),
        Text(f"{ranking.description}; {what}", style="dim", no_wrap=True, overflow="ellipsis"),
        Text(columns, style="bold dim", no_wrap=True),
    ]


def left_out(report: UnitsReport) -> str:
    """'left out: 5 constant, 3 saturated' (or '' when every unit was ranked)."""
    counts = Counter(u.reason for u in report.inactive)
    if not counts:
        return ""
    return "left out: " + ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))


class UnitsView(View):
    BINDINGS = [
        Binding("up", "rank(-1)", "unit", key_display="↑↓"),
        Binding("down", "rank(1)", "unit", show=False),
        Binding("f", "feature(1)", "feature", key_display="f/F"),
        Binding("F", "feature(-1)", "previous feature", show=False),
        Binding("pagedown", "feature(1)", "next feature", show=False),
        Binding("pageup", "feature(-1)", "previous feature", show=False),
        *CURSOR_KEYS,
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="units-info", classes="info")
        with Horizontal(id="units-row"):
            yield RowList(id="units-features")
            yield RowList(id="units-ranked")
        yield Static(id="units-strip-title", classes="caption")
        yield FeatureStrip(id="units-strip")
        yield Static(id="units-caption", classes="caption")
        yield TokenText(id="units-text")

    def action_rank(self, delta: int) -> None:
        self.post_message(msg.ChooseRank(delta))

    def action_feature(self, delta: int) -> None:
        self.post_message(msg.ChooseFeature(delta))

    def on_row_list_clicked(self, event: RowList.Clicked) -> None:
        focus_now(self)
        if event.rows.id == "units-features":
            self.post_message(msg.ChooseFeature(to=event.index))
        else:
            self.post_message(msg.ChooseRank(to=event.index))

    def on_token_text_clicked(self, event: TokenText.Clicked) -> None:
        focus_now(self)
        self.post_message(msg.SelectAt(record_step=event.index))

    def _clear(self, message: str) -> None:
        self.query_one("#units-info", Static).update(Text(message, style="dim italic"))
        self.query_one("#units-features", RowList).set_data([])
        self.query_one("#units-ranked", RowList).set_data([])
        self.query_one("#units-strip-title", Static).update("")
        self.query_one("#units-strip", FeatureStrip).set_data(np.zeros(0), np.zeros(0))
        self.query_one("#units-caption", Static).update("")
        self.query_one("#units-text", TokenText).set_data([], [])

    def refresh_from(self, state: InspectorState) -> None:
        record, report = state.record, state.units
        if record is None:
            self._clear(state.waiting_message())
            return
        if state.units_error and state.units_record is record:
            self._clear(state.units_error)
            return
        if not state.units_ready() or report is None:
            self._clear("ranking the units against the features of this text…")
            return
        ranking = state.feature_ranking()
        info = Text.assemble(
            (f"{report.ranked_units} units ranked by |r| ", "bold"),
            f"· {report.tokens} tokens",
            (f" · {left_out(report)}" if report.inactive else "", "dim"),
        )
        self.query_one("#units-info", Static).update(info)
        header = Text(f"{'feature':<{NAME_WIDTH}}{'best':<{LABEL_WIDTH}}{'r':>5}  acc/base", style="bold dim")
        self.query_one("#units-features", RowList).set_data(feature_rows(report), state.feature, header=[header])
        ranked = self.query_one("#units-ranked", RowList)
        if ranking is None:
            ranked.set_data([])
            return
        score = state.ranked_unit()
        ranked.set_data(
            ranked_rows(ranking),
            state.rank if score is not None else None,
            header=ranked_header(ranking),
            placeholder="constant here: nothing to track" if ranking.constant else "no unit ranked",
        )
        values = state.state_values()[:, state.unit]
        scale = state.unit_scale()
        rc = state.record_cursor()
        label = f"L{state.layer + 1} {state.state_kind}#{state.unit}"
        title = Text.assemble((label, "bold"), " against ", (ranking.name, "bold #8fb8de"))
        if score is not None and (score.layer, score.state, score.unit) == (state.layer, state.state_kind, state.unit):
            title.append(f" · r = {score.r:+.2f}")
        title.append(" · each row on its own scale", style="dim")
        self.query_one("#units-strip-title", Static).update(title)
        self.query_one("#units-strip", FeatureStrip).set_data(
            values,
            report.feature_values[ranking.name],
            unit_label=label.split()[1],
            feature_label=ranking.name,
            scale=scale,
            cursor=rc,
        )
        self.query_one("#units-caption", Static).update(
            Text.assemble((f"text coloured by {state.state_kind}[{state.unit}] ", "bold"), activation_legend(scale))
        )
        styles: list[Style | None] = [bg_style(activation_rgb(float(v), scale)) for v in values]
        self.query_one("#units-text", TokenText).set_data(state.record_pieces, styles, rc)
