"""Run directories that are never shared: two runs started in the same second get different folders.

Registered as the OmegaConf resolver ``lnra_unique`` and used for ``hydra.run.dir``. The folder is
created with an exclusive ``mkdir``, which is atomic, so concurrent runs cannot pick the same name.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

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


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("lnra_unique"):
        OmegaConf.register_new_resolver("lnra_unique", unique_dir, use_cache=True)
