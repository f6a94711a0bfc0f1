"""Pseudo anomalies (docs/method.md §3-§5); the names below are imported on first use (PEP 562), so that
``--help``, which reads the torch-free kinds and skip, does not import torch with this package."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {"KIND_NORMAL": "lnra.pseudo.kinds", "KIND_SKIP": "lnra.pseudo.kinds",
          "PseudoAnomalies": "lnra.pseudo.selection", "SkipFrame": "lnra.pseudo.skip"}
__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'lnra.pseudo' has no attribute {name!r}")
