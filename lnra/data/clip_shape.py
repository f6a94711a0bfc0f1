"""The clip shapes the autoencoder accepts (docs/method.md §2), stated once and free of torch, so that the
config schema (which must not import torch: run.py's pre-flight) and the model share one rule."""

from __future__ import annotations

from lnra.errors import LnraError

SPATIAL_FACTOR = 16  # four stride-2 stages in H and W
TEMPORAL_FACTOR = 8  # three stride-2 stages in T


def check_clip_shape(frames: int, height: int, width: int) -> None:
    """Refuse shapes the encoder cannot halve cleanly, before any data is read or trained on."""
    if height % SPATIAL_FACTOR or width % SPATIAL_FACTOR:
        raise LnraError(
            f"frame size {height}x{width} is not a multiple of {SPATIAL_FACTOR}: the autoencoder halves "
            f"H and W four times; choose e.g. dataset.height={max(16, height // 16 * 16)} "
            f"dataset.width={max(16, width // 16 * 16)}"
        )
    if frames % TEMPORAL_FACTOR:
        raise LnraError(
            f"clip length {frames} is not a multiple of {TEMPORAL_FACTOR}: the autoencoder halves T three "
            "times (the paper uses 16)"
        )
