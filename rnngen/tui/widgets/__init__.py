"""Reusable widgets that draw plain data (lists, numpy arrays), never a model.

- ``Heatmap``: units x time heatmap (``render_heatmap`` for the bare Text)
- ``LogChart``: log-scale bars over time, e.g. ||dL/dh_t|| per layer (``render_log_chart``)
- ``TopKBars``: next-token candidates with probability bars (``render_topk``)
- ``SaturationPlot``: gate saturation scatter per unit (``render_saturation``)
- ``TokenText``: text coloured token by token, with a cursor
- ``TimeAxis``: which tokens each column shows (shrinks long texts, stretches short ones)
- ``render_equations`` (equations.py): the cell's equations with one unit's numbers
- ``RowList`` (rowlist.py): rows of text, one highlighted, clicks give the row
- ``FeatureStrip`` (featurestrip.py): a unit's value against a feature of the text, token by token
- ``colors``: the colour maps they share
- ``Panel`` (panel.py) and ``charts``: the dashboards' bordered panels and their text renderers
  (line chart, log bars, hidden-state heatmap, sparkline, number formats)
"""

from rnngen.tui.widgets.heatmap import Heatmap, render_heatmap
from rnngen.tui.widgets.logchart import LogChart, log_range, render_log_chart
from rnngen.tui.widgets.saturation import SaturationPlot, render_saturation
from rnngen.tui.widgets.timeaxis import TimeAxis
from rnngen.tui.widgets.tokentext import TokenText, layout_tokens
from rnngen.tui.widgets.topk import Candidate, TopKBars, render_topk, show_token

__all__ = [
    "Candidate",
    "Heatmap",
    "LogChart",
    "SaturationPlot",
    "TimeAxis",
    "TokenText",
    "TopKBars",
    "layout_tokens",
    "log_range",
    "render_heatmap",
    "render_log_chart",
    "render_saturation",
    "render_topk",
    "show_token",
]
