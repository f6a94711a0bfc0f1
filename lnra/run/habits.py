"""Command-line spellings a Lightning user types, read the way they mean them.

``Trainer(logger=False)`` is how Lightning switches the experiment logger off, so ``logger=false`` (or
``null``/``none``, any case) is what people type; Hydra would stop on it with a traceback, because a
config group's option must be a name. It is read as ``logger=none``, lnra's option for no logger.
"""

from __future__ import annotations

OFF = {"false", "null", "none", "0"}


def lightning_habits(overrides: list[str]) -> list[str]:
    """The overrides with ``logger=<off>`` written as ``logger=none``; everything else unchanged."""
    return ["logger=none" if o.partition("=")[0] == "logger" and o.partition("=")[2].lower() in OFF else o
            for o in overrides]
