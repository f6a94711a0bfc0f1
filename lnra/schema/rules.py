"""The allowed values of one option: a rule says whether a (type-checked) value fits, and in words what fits.

The type of an option is checked by OmegaConf when the config is composed (the dataclass field's
annotation); a rule checks what a type cannot say — a range, a multiple, a set of words — and its
:meth:`Rule.describe` is what ``--help`` and the README print, so the documentation cannot drift from
the check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


class Rule:
    """One constraint on a value; ``problem`` returns why the value is wrong, or None when it fits."""

    def problem(self, value: Any) -> str | None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Range(Rule):
    """``low <= value <= high`` (either end open with ``low_open``/``high_open``, or absent with None)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def fits(self, value: Any) -> bool:
        if not _is_number(value) or math.isnan(value):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def problem(self, value: Any) -> str | None:
        return None if self.fits(value) else f"must be {self.describe()}"

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_num(self.high)}"
        return "a number"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


PROBABILITY = Range(0, 1)
POSITIVE = Range(0, low_open=True)
AT_LEAST_ONE = Range(1)
NON_NEGATIVE = Range(0)
SEED = Range(0, 2**32 - 1)  # numpy and Lightning's seed_everything take 32-bit seeds


@dataclass(frozen=True)
class MultipleOf(Rule):
    """A positive multiple of ``factor``, with why (the shape the network needs) and an example."""

    factor: int
    example: int

    def problem(self, value: Any) -> str | None:
        if _is_number(value) and value > 0 and value % self.factor == 0:
            return None
        return f"must be a positive multiple of {self.factor} (e.g. {self.example})"

    def describe(self) -> str:
        return f"positive multiple of {self.factor}"


@dataclass(frozen=True)
class OneOf(Rule):
    """One of a fixed set of values (compared as given, so ``true`` and ``'auto'`` can share a set)."""

    choices: tuple[Any, ...]

    def problem(self, value: Any) -> str | None:
        if any(value == c and type(value) is type(c) for c in self.choices):
            return None
        return f"must be one of {self.describe()}"

    def describe(self) -> str:
        return " | ".join(_show(c) for c in self.choices)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


@dataclass(frozen=True)
class Either(Rule):
    """Fits when any of ``rules`` fits (e.g. ``-1`` or ``>= 1``); ``text`` says it shorter, if given."""

    rules: tuple[Rule, ...]
    text: str = ""

    def problem(self, value: Any) -> str | None:
        if any(rule.problem(value) is None for rule in self.rules):
            return None
        return f"must be {self.describe()}"

    def describe(self) -> str:
        return self.text or " or ".join(rule.describe() for rule in self.rules)


@dataclass(frozen=True)
class _TypedRange(Rule):
    """A value of one exact kind within ``range_``, for options whose type also allows other kinds;
    subclasses name the kind (``accepts``) and how the help text calls it (``noun``)."""

    range_: Range
    noun: ClassVar[str] = ""

    @staticmethod
    def accepts(value: Any) -> bool:
        raise NotImplementedError

    def problem(self, value: Any) -> str | None:
        if self.accepts(value) and self.range_.fits(value):
            return None
        return f"must be {self.describe()}"

    def describe(self) -> str:
        return f"{self.noun} {self.range_.describe()}"


class IntRange(_TypedRange):
    """A whole number (not a bool) within ``range_``; for options whose type also allows floats or words."""

    noun = "an integer"

    @staticmethod
    def accepts(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)


class FloatRange(_TypedRange):
    """A float (not an int) within ``range_``: Lightning reads ``1.0`` as a fraction but ``1`` as a count."""

    noun = "a fraction"

    @staticmethod
    def accepts(value: Any) -> bool:
        return isinstance(value, float)


@dataclass(frozen=True)
class Items(Rule):
    """A list whose length is ``length`` (or at least 1 when None) and whose items each fit ``item``."""

    item: Rule
    length: int | None = None

    def problem(self, value: Any) -> str | None:
        values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
        if values is None:
            return f"must be a list ({self.describe()})"
        if self.length is not None and len(values) != self.length:
            return f"must hold {self.length} values, got {len(values)}"
        if not values:
            return f"must not be empty ({self.describe()})"
        bad = [v for v in values if self.item.problem(v) is not None]
        if bad:
            return f"every value must be {self.item.describe()}; {bad} {'is' if len(bad) == 1 else 'are'} not"
        return None

    def describe(self) -> str:
        count = f"{self.length} values" if self.length is not None else "at least one value"
        return f"{count}, each {self.item.describe()}"


@dataclass(frozen=True)
class NonEmpty(Rule):
    """A non-empty string; with ``no_slash`` also usable as one folder name."""

    no_slash: bool = False

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return "must not be empty"
        if self.no_slash and ("/" in value or "\\" in value):
            return "must not contain '/' (it becomes a folder name)"
        return None

    def describe(self) -> str:
        return "non-empty, no '/'" if self.no_slash else "non-empty"


@dataclass(frozen=True)
class Mapping(Rule):
    """A dict of settings (null, for an optional one, is not checked by rules)."""

    what: str = "settings"

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, dict) else f"must be a dict of {self.what} or null"

    def describe(self) -> str:
        return f"a dict of {self.what}, or null"


@dataclass(frozen=True)
class Colormap(Rule):
    """A matplotlib colormap name (matplotlib is imported only when a config is checked)."""

    def problem(self, value: Any) -> str | None:
        import matplotlib

        if isinstance(value, str) and value in matplotlib.colormaps:
            return None
        return "unknown matplotlib colormap (e.g. inferno, viridis)"

    def describe(self) -> str:
        return "a matplotlib colormap name (inferno, viridis, ...)"


def describe(rule: Rule | None) -> str:
    return rule.describe() if rule is not None else "-"


__all__ = ["AT_LEAST_ONE", "NON_NEGATIVE", "POSITIVE", "PROBABILITY", "SEED", "Colormap", "Either",
           "FloatRange", "IntRange", "Items", "Mapping", "MultipleOf", "NonEmpty", "OneOf", "Range", "Rule",
           "describe"]
