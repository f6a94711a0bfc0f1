"""One exception type for everything a user can get wrong: the entry points print its message as one line,
so a wrong path or an inconsistent label file reads as an instruction, not as a stack trace."""

from __future__ import annotations

import sys
from collections.abc import Callable


class LnraError(Exception):
    """A problem with the user's input or configuration, explained in one actionable line."""


def exit_status(work: Callable[[], object]) -> int:
    """The tail of every command-line tool: run ``work`` and return 0, or print an :class:`LnraError` as one
    line ``error: …`` on stderr and return 2. Any other exception stays a traceback: it is a bug to report."""
    try:
        work()
    except LnraError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
