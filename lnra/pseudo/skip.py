"""Skip-frame pseudo anomalies (docs/method.md §5): a clip that jumps ``s`` frames per step, and its
normal target.

Only frame indices are computed here; the frames themselves are sliced from the cache by the dataset,
so a skip-frame sample costs two array slices, not any decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lnra.errors import LnraError
from lnra.pseudo.probability import check_probability

MAX_REDRAWS = 10


@dataclass(frozen=True)
class SkipFrame:
    """Selection probability ``p`` and the set of jumps ``s`` drawn uniformly per sample."""

    p: float = 0.2
    jump: Sequence[int] = (2, 3, 4, 5)

    def __post_init__(self) -> None:
        check_probability("pseudo.skip.p", self.p)
        if len(self.jump) == 0:
            raise LnraError("pseudo.skip.jump is empty: give at least one jump, e.g. [2,3,4,5]")
        bad = [s for s in self.jump if int(s) != s or s < 1]
        if bad:
            raise LnraError(f"pseudo.skip.jump holds {bad}: every jump must be an integer >= 1")


def skip_frame_indices(
    rng: np.random.Generator, video_len: int, start: int, jumps: Sequence[int], clip_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frame positions (within the video) of a skip-frame clip starting near ``start`` and of its target.

    Picks ``s`` from ``jumps``; while the video is too short (``len < i + (T-1)·s``) redraws ``i``
    uniformly in the video, at most 10 times; positions past the end are clamped to the last frame.
    The target is the normal clip ``i … i+T-1`` of the same video, clamped likewise.
    """
    s = int(jumps[rng.integers(len(jumps))])
    i = start
    for _ in range(MAX_REDRAWS):
        if video_len >= i + (clip_len - 1) * s:
            break
        i = int(rng.integers(video_len))
    steps = np.arange(clip_len)
    last = video_len - 1
    return np.minimum(i + steps * s, last), np.minimum(i + steps, last)
