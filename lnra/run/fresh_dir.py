"""A folder nobody else has: the one primitive that run folders, sweep folders and resumed runs' config
folders share. Kept apart from :mod:`lnra.run.rundir` (which registers the resolvers) so that
:mod:`lnra.run.sweep_resume` can use it without importing the module that imports it."""

from __future__ import annotations

import os
from pathlib import Path

_claimed: dict[str, str] = {}


def unique_dir(base: str) -> str:
    """Create and return ``base``, or ``base-1``, ``base-2``, … if it is already taken."""
    if base in _claimed:
        return _claimed[base]
    Path(base).parent.mkdir(parents=True, exist_ok=True)
    candidate, n = base, 0
    while True:
        try:
            os.mkdir(candidate)
            break
        except FileExistsError:
            n += 1
            candidate = f"{base}-{n}"
    _claimed[base] = candidate
    return candidate
