"""Annotated types that several signatures share, so that a rule and its words are written once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field


def _folder_name(value: str) -> str:
    """a non-empty name without '/'"""
    if not value.strip() or "/" in value or "\\" in value:
        raise ValueError("must be a non-empty name without '/' (it becomes a folder name)")
    return value


def _location(value: str | Path) -> str | Path:
    """a non-empty path"""
    if not str(value).strip() or str(value) == ".":
        raise ValueError("must be a non-empty path")
    return value


NonEmpty = Annotated[str, Field(min_length=1)]
Location = Annotated[str | Path, AfterValidator(_location)]  # a file or folder: a string (config) or a Path
FolderName = Annotated[str, AfterValidator(_folder_name)]
Probability = Annotated[float, Field(ge=0, le=1)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
Count = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
