"""One exception type for everything a user can get wrong: the entry points print its message as one line,
so a wrong path or an inconsistent label file reads as an instruction, not as a stack trace."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


class LnraError(Exception):
    """A problem with the user's input or configuration, explained in one actionable line."""


def exit_status(work: Callable[[], object]) -> int:
    """The tail of every command: 0, or an :class:`LnraError` as ``error: …`` lines on stderr and 2 (raised
    with ``HYDRA_FULL_ERROR=1``); any other exception is a bug to report, so it stays a traceback."""
    try:
        work()
    except LnraError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)  # a refusal's lines are already joined by "error: "
        return 2
    return 0


def refuse(lines: list[str]) -> None:
    """Raise the ``lines`` (mistakes found all at once) as one :class:`LnraError`, if there are any."""
    if lines:
        raise LnraError("\nerror: ".join(lines))
