"""Simple features of a text, one value per token: what ``rnngen units`` looks for in a model.

Karpathy, Johnson & Fei-Fei (2015) found LSTM cells that track line length, quotes,
brackets and indentation. These are the features such units would track, computed
from the text the model reads:

    line_position       tokens read on the current line (a line break resets it to 0)
    to_line_end         tokens left until the next line break (or the end of the text)
    in_quotes           inside "double" (may span lines), “curly” or 'single' quotes
                        (single quotes end at a line break; an apostrophe between two
                        letters, as in don't, is no quote)
    in_parens / in_square / in_braces   inside ( ), [ ], { }
    bracket_depth       nesting depth of all three kinds together
    indent              indentation of the current line (spaces, a tab counts 4)
    word_start          the token starts a word
    in_number           the token ends inside a number (3, 2024, 3.14)
    upper               the token's first character is an upper-case letter
    after_sentence_end  the token follows . ! or ? and whitespace (a new sentence)

Every feature is the state *after reading* the token, like the hidden state it is
compared with: the opening quote is inside the quotes, the closing one is not; ``(``
raises the depth, ``)`` lowers it. Character features are computed on the decoded
text, then read per token from its text span: the last character for states (quotes,
brackets, indent, numbers), the first visible one for starts (word, upper case,
sentence). At word level, spaces are not tokens (``indent`` and ``word_start`` mean
nothing there and are left out) and positions count words.

User features (``NAME=REGEX``) mark every token whose text overlaps a match.

No torch, no UI: ``text_features(pieces)`` takes the token pieces
(``tokenizers.display_pieces``) and returns ``Feature`` objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rnngen.errors import RnngenError

BINARY, NUMERIC = "binary", "numeric"

DESCRIPTIONS = {
    "line_position": (NUMERIC, "tokens read on the current line"),
    "to_line_end": (NUMERIC, "tokens left until the next line break"),
    "in_quotes": (BINARY, "inside quotes"),
    "in_parens": (BINARY, "inside ( )"),
    "in_square": (BINARY, "inside [ ]"),
    "in_braces": (BINARY, "inside { }"),
    "bracket_depth": (NUMERIC, "nesting depth of ( ) [ ] { }"),
    "indent": (NUMERIC, "indentation of the current line"),
    "word_start": (BINARY, "starts a word"),
    "in_number": (BINARY, "inside a number"),
    "upper": (BINARY, "starts with an upper-case letter"),
    "after_sentence_end": (BINARY, "after a sentence end"),
}
BUILTIN_FEATURES = tuple(DESCRIPTIONS)
# Spaces are not word tokens: the decoded text has no indentation and every word starts one.
NOT_AT_WORD_LEVEL = ("indent", "word_start")

FEATURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
TAB_WIDTH = 4
_OPEN = {"(": 0, "[": 1, "{": 2}
_CLOSE = {")": 0, "]": 1, "}": 2}
_NUMBER = re.compile(r"\d+(?:[.,_]\d+)*")
_WORD = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:['’]\w+)*")  # 3.14 and don't are one word each
_SENTENCE_END = re.compile(r"[.!?][\"'’”)\]]*(\s+)(\S)?")


@dataclass(frozen=True)
class Feature:
    """One feature of a text: a value per token."""

    name: str
    kind: str  # "binary" (values 0/1) | "numeric"
    description: str
    values: np.ndarray  # (T,) float64

    @property
    def is_binary(self) -> bool:
        return self.kind == BINARY


def parse_feature_spec(spec: str) -> tuple[str, re.Pattern]:
    """``"NAME=REGEX"`` -> (name, compiled pattern); a one-line error for anything else."""
    name, sep, pattern = spec.partition("=")
    if not sep:
        raise RnngenError(f"a feature is NAME=REGEX, not {spec!r}")
    if not FEATURE_NAME.match(name):
        raise RnngenError(f"feature name {name!r} must be letters, digits, _ or - (not starting with a digit)")
    if name in DESCRIPTIONS:
        raise RnngenError(f"feature name {name!r} is a built-in feature; choose another name")
    if not pattern:
        raise RnngenError(f"feature {name!r} has an empty regular expression")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise RnngenError(f"feature {name!r}: bad regular expression {pattern!r}: {exc}") from None
    return name, compiled


def text_features(
    pieces: Sequence[str],
    extra: Mapping[str, str | re.Pattern] | None = None,
    *,
    level: str = "char",
) -> list[Feature]:
    """The built-in features (those that mean something at ``level``), then ``extra``'s.

    ``pieces`` are the text of each token as decoded (``"".join(pieces)`` is the text);
    ``extra`` maps a feature name to a regular expression.
    """
    if not pieces:
        raise RnngenError("no tokens to compute features for")
    text = "".join(pieces)
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    ends = np.cumsum(lengths)  # one past each token's last character
    starts = ends - lengths
    # The character whose state a token ends in: its last one (an empty piece, e.g. half a
    # multi-byte character, keeps the state of the character before it).
    last = np.maximum(ends - 1, 0)
    first_visible = starts + np.fromiter(
        (len(p) - len(p.lstrip()) if p.strip() else 0 for p in pieces), dtype=np.int64, count=len(pieces)
    )
    first_visible = np.minimum(first_visible, max(len(text) - 1, 0))
    chars = _char_states(text)

    def at(values: np.ndarray, where: np.ndarray) -> np.ndarray:
        out = values[where] if len(text) else np.zeros(len(pieces))
        return out.astype(np.float64)

    newline = np.fromiter(("\n" in p for p in pieces), dtype=bool, count=len(pieces))
    values = {
        "line_position": _since_last(newline),
        "to_line_end": _until_next(newline),
        "in_quotes": at(chars["in_quotes"], last),
        "in_parens": at(chars["depth"][0] > 0, last),
        "in_square": at(chars["depth"][1] > 0, last),
        "in_braces": at(chars["depth"][2] > 0, last),
        "bracket_depth": at(chars["depth"].sum(0), last),
        "indent": at(chars["indent"], last),
        "word_start": at(_marks(text, _WORD, group=None, first_only=True), first_visible),
        "in_number": at(_marks(text, _NUMBER), last),
        "upper": np.fromiter((_first_upper(p) for p in pieces), dtype=np.float64, count=len(pieces)),
        "after_sentence_end": at(_sentence_starts(text), starts),
    }
    features = [
        Feature(name, DESCRIPTIONS[name][0], DESCRIPTIONS[name][1], v)
        for name, v in values.items()
        if not (level == "word" and name in NOT_AT_WORD_LEVEL)
    ]
    for name, pattern in (extra or {}).items():
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        marked = np.concatenate([[0], np.cumsum(_marks(text, regex))])
        overlap = (marked[ends] - marked[starts]) > 0
        features.append(Feature(name, BINARY, f"overlaps /{regex.pattern}/", overlap.astype(np.float64)))
    return features


# ---- character states -------------------------------------------------------------------


def _char_states(text: str) -> dict[str, np.ndarray]:
    """Quote state, bracket depths and indentation after reading each character."""
    n = len(text)
    in_quotes = np.zeros(n, dtype=bool)
    depth = np.zeros((3, n), dtype=np.int32)
    indent = np.zeros(n, dtype=np.int32)
    double = single = False
    levels = [0, 0, 0]
    width, leading = 0, True
    for i, ch in enumerate(text):
        if ch == "\n":
            single = False
            width, leading = 0, True
        elif leading and ch in " \t":
            width += TAB_WIDTH if ch == "\t" else 1
        else:
            leading = False
        if ch == '"' and not single:
            double = not double
        elif ch == "“" and not single:
            double = True
        elif ch == "”" and not single:
            double = False
        elif ch in "'‘’" and not double and not _apostrophe(text, i):
            single = not single if ch == "'" else ch == "‘"
        elif ch in _OPEN:
            levels[_OPEN[ch]] += 1
        elif ch in _CLOSE:
            k = _CLOSE[ch]
            levels[k] = max(0, levels[k] - 1)
        in_quotes[i] = double or single
        depth[:, i] = levels
        indent[i] = width
    return {"in_quotes": in_quotes, "depth": depth, "indent": indent}


def _apostrophe(text: str, i: int) -> bool:
    """A quote mark between two letters or digits (don't, o'er) is an apostrophe."""
    return 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def _marks(text: str, regex: re.Pattern, group: int | None = 0, first_only: bool = False) -> np.ndarray:
    """Characters inside matches of ``regex`` (only the first of each with ``first_only``)."""
    out = np.zeros(len(text), dtype=bool)
    for m in regex.finditer(text):
        start, end = m.span()
        if end > start:
            out[start : start + 1 if first_only else end] = True
    return out


def _sentence_starts(text: str) -> np.ndarray:
    """The whitespace after . ! ? (and closing quotes or brackets) and the character after it."""
    out = np.zeros(len(text), dtype=bool)
    for m in _SENTENCE_END.finditer(text):
        start, end = m.span(1)
        out[start:end] = True
        if m.group(2):
            out[m.start(2)] = True
    return out


def _first_upper(piece: str) -> bool:
    visible = piece.lstrip()
    return bool(visible) and visible[0].isupper()


# ---- token counts -----------------------------------------------------------------------


def _since_last(newline: np.ndarray) -> np.ndarray:
    """Tokens read since the last token with a line break (0 at that token, 1 after it)."""
    index = np.arange(len(newline))
    last_break = np.maximum.accumulate(np.where(newline, index, -1))
    return (index - last_break).astype(np.float64)


def _until_next(newline: np.ndarray) -> np.ndarray:
    """Tokens from each token to the next token with a line break after it (or the end)."""
    n = len(newline)
    index = np.arange(n)
    # next_break[t]: the first line-break token at a position > t.
    breaks = np.where(newline, index, n)
    after = np.minimum.accumulate(breaks[::-1])[::-1]  # first break at >= t
    next_break = np.append(after[1:], n)
    return (next_break - index).astype(np.float64)
