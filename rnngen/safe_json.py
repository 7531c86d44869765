"""JSON from a stranger's file, parsed with bounds: nesting depth and integer size.

Python's ``json`` module raises RecursionError on deep nesting and ValueError on an
integer longer than its string-conversion limit (4,300 digits), and a document nested
just under the recursion limit breaks whatever walks it next (``json.dumps`` included).
Checkpoint metadata is never nested more than a few levels, so deeper is refused with a
reason that fits in a line. No count rnngen writes needs more than 20 digits: a longer
integer is read as a float (inf when huge), which every whole-number check then refuses
on its own terms, so one absurd field does not hide the rest of a document.
"""

from __future__ import annotations

import json

MAX_DEPTH = 32
MAX_INT_DIGITS = 20  # 2**64 has 20 digits


class JSONRefused(ValueError):
    """The text is not JSON within the bounds; ``str()`` completes "the document ..."."""


def _bounded_int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else float(text)


def loads(text: str | bytes) -> object:
    """Parse ``text``; JSONRefused when it is not JSON or nested too deeply."""
    try:
        # Strict UTF-8 (json.loads would also guess UTF-16 and UTF-32 from bytes).
        value = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text, parse_int=_bounded_int)
    except RecursionError:
        raise JSONRefused(f"is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise JSONRefused("is not valid JSON") from None
    _check_depth(value)
    return value


def _check_depth(value: object) -> None:
    # Iterative, so checking a deep document cannot itself run out of stack.
    stack: list[tuple[dict | list, int]] = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JSONRefused(f"is nested deeper than {MAX_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
