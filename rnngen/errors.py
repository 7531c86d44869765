"""The one exception type that reaches the user as a single clear line."""


class RnngenError(Exception):
    """A problem with the user's input or environment, explained in one line.

    The CLI turns it into ``error: <message>`` on stderr and exit code 1; nothing
    else about it (no traceback) is shown.
    """
