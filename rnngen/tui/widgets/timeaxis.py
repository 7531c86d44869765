"""Which tokens each screen column shows: several tokens per column when the text is
longer than the plot is wide, several columns per token when it is shorter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimeAxis:
    steps: int
    starts: np.ndarray  # first token of each column
    ends: np.ndarray  # one past the last token of each column

    @classmethod
    def fit(cls, steps: int, width: int) -> TimeAxis:
        width = max(1, width)
        if steps <= 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(0, empty, empty)
        if steps <= width:
            starts = np.repeat(np.arange(steps), max(1, width // steps))
            return cls(steps, starts, starts + 1)
        edges = np.linspace(0, steps, width + 1).round().astype(np.int64)
        return cls(steps, edges[:-1], edges[1:])

    @property
    def columns(self) -> int:
        return int(self.starts.size)

    @property
    def per_column(self) -> float:
        """Tokens per column (below 1 when each token spans several columns)."""
        return self.steps / self.columns if self.columns else 0.0

    @property
    def note(self) -> str:
        """ "×2.2" when a column averages tokens, else ""."""
        return f"×{self.per_column:.2g}" if self.per_column > 1 else ""

    def column_of(self, token: int | None) -> int | None:
        """The first column that shows ``token`` (None if outside the axis)."""
        if token is None or not 0 <= token < self.steps:
            return None
        return int(np.searchsorted(self.ends, token, side="right"))

    def token_at(self, column: int) -> int | None:
        if not 0 <= column < self.columns:
            return None
        return int(self.starts[column])

    def first_columns(self) -> np.ndarray:
        """True for each column that starts a new token (where a token label goes)."""
        first = np.ones(self.columns, dtype=bool)
        first[1:] = self.starts[1:] != self.starts[:-1]
        return first

    def mean(self, values: np.ndarray) -> np.ndarray:
        """(rows, steps) -> (rows, columns): the mean over each column's tokens."""
        values = np.asarray(values, dtype=np.float64)
        if self.columns == 0:
            return values[:, :0]
        sums = np.add.reduceat(values, self.starts, axis=1)
        return sums / (self.ends - self.starts)

    def geometric_mean(self, values: np.ndarray) -> np.ndarray:
        """(steps,) positive values -> (columns,): geometric mean of each column's positive values (0 if none)."""
        values = np.asarray(values, dtype=np.float64)
        out = np.zeros(self.columns)
        for c, (a, b) in enumerate(zip(self.starts, self.ends)):
            chunk = values[a:b]
            chunk = chunk[chunk > 0]
            if chunk.size:
                out[c] = float(np.exp(np.log(chunk).mean()))
        return out

    def ticks(self, every: int | None = None) -> str:
        """An axis line of token numbers (1-based) placed at their columns."""
        cells = [" "] * self.columns
        if self.columns == 0:
            return ""
        if every is None:
            every = 10
            while self.columns and (self.steps / every) * 5 > self.columns:
                every *= 5 if str(every).startswith("1") else 2
        marks = [1] + list(range(every, self.steps + 1, every))
        for mark in marks:
            col = self.column_of(mark - 1)
            label = str(mark)
            if col is None or col + len(label) > self.columns:
                continue
            if all(ch == " " for ch in cells[max(0, col - 1) : col + len(label) + 1]):
                cells[col : col + len(label)] = list(label)
        return "".join(cells)
