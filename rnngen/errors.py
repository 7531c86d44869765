"""The one exception type that reaches the user as a single clear line.

Core modules name the settings an error is about with :func:`setting` (``lr``,
``val_frac``, ``time``), never as command-line flags. ``str(error)`` shows the plain
names, as the Python API spells them; a front end shows them its own way:
``error.render(flag)`` (the CLI passes a function that turns ``val_frac`` into
``--val-frac``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_MARK = "\x1f"  # a control character no user text contains
_MARKED = re.compile(f"{_MARK}([A-Za-z0-9_]+){_MARK}")


def setting(name: str) -> str:
    """Mark ``name`` as a setting's name inside an error message."""
    return f"{_MARK}{name}{_MARK}"


class RnngenError(Exception):
    """A problem with the user's input or environment, explained in one line.

    The CLI turns it into ``error: <message>`` on stderr and exit code 1; nothing
    else about it (no traceback) is shown.
    """

    def __init__(self, message: str = "", *args: object) -> None:
        self.marked = message  # the message with its settings still marked
        super().__init__(_MARKED.sub(r"\1", message), *args)

    def render(self, name: Callable[[str], str]) -> str:
        """The message with every marked setting written as ``name(setting)``."""
        return _MARKED.sub(lambda m: name(m.group(1)), self.marked)
