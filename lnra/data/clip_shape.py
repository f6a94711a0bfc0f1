"""The clip shapes the autoencoder accepts (docs/method.md §2), stated once: the data's options are typed
with them (a wrong size is refused with a command's other mistakes) and the model checks its input."""

from __future__ import annotations

from typing import Annotated

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
