"""Skip-frame pseudo anomalies (docs/method.md §5) as frame indices only: the dataset slices the frames
from its cache, so a skip-frame sample costs two array slices, no decoding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from lnra.config.options import checked
from lnra.config.types import Count, Probability


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
    """Frame positions of a skip-frame clip near ``start`` and of its target (docs/method.md §5)."""
    s = int(jumps[rng.integers(len(jumps))])
    i = start
    for _ in range(10):
        if video_len >= i + (clip_len - 1) * s:
            break
        i = int(rng.integers(video_len))
    steps, last = np.arange(clip_len), video_len - 1
    return np.minimum(i + steps * s, last), np.minimum(i + steps, last)
