"""Pseudo anomalies: per-sample selection (docs/method.md §3), patches (§4) and skipped frames (§5)."""

from lnra.pseudo.selection import KIND_NORMAL, KIND_SKIP, PseudoAnomalies
from lnra.pseudo.skip import SkipFrame

__all__ = ["KIND_NORMAL", "KIND_SKIP", "PseudoAnomalies", "SkipFrame"]
