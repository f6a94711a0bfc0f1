"""The pseudo-anomaly kinds without torch (``--help`` reads them): their codes, the patch blends' names and
the rule that binds their probabilities (docs/method.md §3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

KIND_NORMAL, KIND_SKIP, FIRST_PATCH_KIND = 0, 1, 2

# The patch blends of docs/method.md §4 (their masks: lnra.pseudo.patch.RULES).
Technique = Literal["smoothmix_s", "smoothmix_c", "cutmix", "mixup_patch"]


def probability_sum_problem(probabilities: Sequence[float]) -> str | None:
    """Why the kinds' probabilities do not fit together (their sum exceeds 1), or None."""
    if (total := sum(probabilities)) > 1 + 1e-9:
        return (f"pseudo-anomaly probabilities sum to {total:.3f} > 1; each sample gets at most one type, so "
                "they must sum to at most 1")
    return None
