"""The two conventions every layer shares, in one place: pixel values (uint8 on disk, [-1, 1] in the model,
docs/method.md §1) and the stride-1 test windows of a video (docs/method.md §6)."""

from __future__ import annotations

import numpy as np
import torch


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
