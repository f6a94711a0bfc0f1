"""Skip-frame pseudo anomalies (docs/method.md §5): a clip that jumps ``s`` frames per step, and its
normal target.

Only frame indices are computed here; the frames themselves are sliced from the cache by the dataset,
so a skip-frame sample costs two array slices, not any decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from lnra.config.options import checked
from lnra.config.types import Count, Probability

MAX_REDRAWS = 10


@checked
@dataclass(frozen=True)
class SkipFrame:
    """Selection probability ``p`` and the set of jumps ``s`` drawn uniformly per sample."""

    p: Annotated[Probability, Field(description="probability that a training sample is a skip-frame clip")] \
        = 0.2
    jump: Annotated[tuple[Count, ...], Field(min_length=1, description="the jumps s, one drawn per sample")] \
        = (2, 3, 4, 5)


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
