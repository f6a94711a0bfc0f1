"""The clip shapes the autoencoder accepts (docs/method.md §2), stated once: the data's options are typed
with them (so a wrong size is refused with the other mistakes of a command) and the model checks the shape
it is given."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

SPATIAL_FACTOR = 16  # four stride-2 stages in H and W
TEMPORAL_FACTOR = 8  # three stride-2 stages in T


def _frame_side(value: int) -> int:
    """a positive multiple of 16 (e.g. 256)"""
    if value <= 0 or value % SPATIAL_FACTOR:
        raise ValueError(f"must be a positive multiple of {SPATIAL_FACTOR} (e.g. 256)")
    return value


def _clip_length(value: int) -> int:
    """a positive multiple of 8 (e.g. 16)"""
    if value <= 0 or value % TEMPORAL_FACTOR:
        raise ValueError(f"must be a positive multiple of {TEMPORAL_FACTOR} (e.g. 16)")
    return value


FrameSide = Annotated[int, AfterValidator(_frame_side)]
ClipLength = Annotated[int, AfterValidator(_clip_length)]
