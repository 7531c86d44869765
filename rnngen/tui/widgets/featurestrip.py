"""A unit's activation against a feature of the text: two rows of bars over the same
tokens, so a unit that tracks the feature rises and falls with it.

``render_feature_strip`` (plain numbers in, rich Text out) squeezes long texts into the
width (each column the mean of its tokens, ``TimeAxis``) and marks the cursor's column.
"""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from rnngen.sparkline import BLOCKS
from rnngen.tui.widgets.colors import activation_rgb
from rnngen.tui.widgets.timeaxis import TimeAxis

LABEL_WIDTH = 10
FEATURE_COLOUR = "#8fb8de"
CURSOR = Style(reverse=True)


def _bars(values: np.ndarray, lo: float, hi: float) -> list[str]:
    """One block per value, from ▁ at ``lo`` to █ at ``hi``."""
    span = hi - lo
    levels = np.full(values.shape, 4) if span <= 0 else np.clip(np.round((values - lo) / span * 7), 0, 7).astype(int)
    return [BLOCKS[1 + int(k)] for k in levels]


def render_feature_strip(
    activation: np.ndarray,
    feature: np.ndarray,
    *,
    width: int,
    unit_label: str,
    feature_label: str,
    scale: float = 1.0,
    cursor: int | None = None,
) -> Text:
    """Two lines, token by token: the unit's value and the feature, each bar scaled to its
    own range over the text (a unit that tracks the feature draws the same shape); the
    unit's bars are coloured like the text (sign and size on [-scale, scale]).
    ``cursor`` is a token index."""
    activation = np.asarray(activation, dtype=np.float64)
    feature = np.asarray(feature, dtype=np.float64)
    axis = TimeAxis.fit(activation.size, max(1, width - LABEL_WIDTH))
    if axis.columns == 0:
        return Text("nothing to show", style="dim italic")
    act, feat = axis.mean(np.stack([activation, feature]))
    at = axis.column_of(cursor)
    out = Text(no_wrap=True, overflow="crop")
    out.append(f"{unit_label[: LABEL_WIDTH - 1]:<{LABEL_WIDTH}}", style="bold")
    for c, block in enumerate(_bars(act, float(activation.min()), float(activation.max()))):
        style = Style(color=_hex(activation_rgb(float(act[c]), scale)))
        out.append(block, style=style + CURSOR if c == at else style)
    out.append("\n")
    out.append(f"{feature_label[: LABEL_WIDTH - 1]:<{LABEL_WIDTH}}", style="bold " + FEATURE_COLOUR)
    lo, hi = float(feature.min()), float(feature.max())
    for c, block in enumerate(_bars(feat, lo, hi)):
        style = Style(color=FEATURE_COLOUR)
        out.append(block, style=style + CURSOR if c == at else style)
    return out


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


class FeatureStrip(Widget):
    """``set_data(activation, feature, ...)``: ``render_feature_strip`` at the widget's width."""

    DEFAULT_CSS = "FeatureStrip { height: 2; width: 1fr; text-wrap: nowrap; text-overflow: clip; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.activation = np.zeros(0)
        self.feature = np.zeros(0)
        self.options: dict = {}

    def set_data(self, activation: np.ndarray, feature: np.ndarray, **options) -> None:
        self.activation, self.feature, self.options = np.asarray(activation), np.asarray(feature), options
        self.refresh()

    def render(self) -> Text:
        if self.activation.size == 0:
            return Text("")
        options = {"unit_label": "unit", "feature_label": "feature", **self.options}
        return render_feature_strip(self.activation, self.feature, width=self.content_size.width, **options)
