"""The probability rules of the pseudo anomalies, stated once (docs/method.md §3): each type's ``p`` is a
probability, and since a training sample gets at most one type, their sum is at most 1.

The constructors (:class:`~lnra.pseudo.patch.PatchMixer`, :class:`~lnra.pseudo.skip.SkipFrame`,
:class:`~lnra.pseudo.selection.PseudoAnomalies`) and the config validation (:mod:`lnra.schema.validate`)
all ask these functions. This module imports nothing heavy: the validation runs before torch is imported.
"""

from __future__ import annotations

from collections.abc import Sequence

from lnra.errors import LnraError


def check_probability(key: str, p: float) -> None:
    """Refuse a ``p`` outside [0, 1], naming it as ``key``."""
    if not 0.0 <= p <= 1.0:
        raise LnraError(f"{key}={p} is not a probability in [0, 1]")


def probability_sum_problem(probabilities: Sequence[float]) -> str | None:
    """Why the types' probabilities do not fit together (their sum exceeds 1), or None."""
    total = sum(probabilities)
    if total > 1 + 1e-9:
        return (f"pseudo-anomaly probabilities sum to {total:.3f} > 1; each sample gets at most one type, so "
                "they must sum to at most 1")
    return None
