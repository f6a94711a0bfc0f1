"""The conventions every layer shares, in one place: pixel values (uint8 on disk, [-1, 1] in the model,
docs/method.md §1), the stride-1 test windows of a video (§6) and the clip shapes the autoencoder accepts
(§2): the data's options are typed with them (a wrong size is refused with a command's other mistakes) and
the model checks its input."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from pydantic import AfterValidator


def _multiple_of(factor: int, example: int) -> AfterValidator:
    """The check of a positive multiple of ``factor``; its docstring is the option's "allowed" text."""

    def check(value: int) -> int:
        if value <= 0 or value % factor:
            raise ValueError(f"must be a positive multiple of {factor} (e.g. {example})")
        return value

    check.__doc__ = f"a positive multiple of {factor} (e.g. {example})"
    return AfterValidator(check)


FrameSide = Annotated[int, _multiple_of(16, 256)]  # four stride-2 stages in H and W
ClipLength = Annotated[int, _multiple_of(8, 16)]  # three stride-2 stages in T


def to_unit_range(frames: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] → float [-1, 1] as ``x/127.5 - 1`` (docs/method.md §1)."""
    return frames.float().div_(127.5).sub_(1.0)


def from_unit_range(frames: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] → uint8 [0, 255], rounded and clipped: the inverse of :func:`to_unit_range`."""
    return frames.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def window_count(video_len: int | np.ndarray, clip_len: int) -> int | np.ndarray:
    """Stride-1 windows over a video (or each of an array of videos): ``len - clip_len + 1``, at least 0."""
    counts = np.maximum(np.asarray(video_len) - clip_len + 1, 0)
    return int(counts) if counts.ndim == 0 else counts
