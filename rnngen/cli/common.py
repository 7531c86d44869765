"""What the command modules share: option lists, the names a user typed, and the
Ctrl-C / SIGTERM handling of long runs. No command lives here."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

import click

from rnngen.terminal_text import for_stream


def flag(name: str) -> str:
    """The command-line spelling of a setting the core names: ``val_frac`` -> ``--val-frac``."""
    return "--" + name.replace("_", "-")


def echo(message: str, *, err: bool = False) -> None:
    """click.echo for text that may hold model output or checkpoint metadata: on a terminal its
    control characters are shown (``^[``), never obeyed; files and pipes get it unchanged
    (``color=True``: click would otherwise strip what looks like ANSI codes from piped output)."""
    click.echo(for_stream(message, sys.stderr if err else sys.stdout), err=err, color=True)


def apply_options(options: list) -> Callable:
    """Decorate a command with a list of click options, in the order listed."""

    def decorator(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorator


def given(ctx: click.Context, name: str) -> bool:
    """True when the user typed option ``name`` (not its default)."""
    return ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)


def typed_names(ctx: click.Context, params: dict) -> set[str]:
    """The parameter names the user actually typed."""
    return {name for name in params if given(ctx, name)}


def quiet_console():
    from rich.console import Console

    return Console(stderr=True, quiet=True)


class stop_on_signals:
    """Ctrl-C and SIGTERM ask the trainer to save and stop; a second Ctrl-C quits at once.

    Quitting at once is safe: checkpoints are written to a temporary file and renamed.
    """

    def __init__(self, stop: threading.Event, say: Callable[[str], None]):
        self.stop, self.say = stop, say
        self.previous: dict = {}

    def _handler(self, signum, frame):
        if self.stop.is_set():
            os._exit(130)
        self.stop.set()
        self.say("stopping: saving a checkpoint (press Ctrl-C again to quit without saving)")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False
