"""How a schema field is declared: :func:`opt` gives a dataclass field its default, its rule and its line of
help, which :mod:`lnra.schema.validate` and :mod:`lnra.schema.docs` read back from the field's metadata."""

from __future__ import annotations

from dataclasses import field, is_dataclass, replace
from typing import Any

from lnra.schema.rules import Rule


def opt(default: Any, rule: Rule | None = None, doc: str = "", schema: type | None = None,
        allowed: str = "") -> Any:
    """A schema field: its default (lists are copied per instance), allowed values and one line of help.

    ``schema``: for a field typed ``Any`` that holds a dict or null, the dataclass its dict is checked
    against in the validation pass. OmegaConf cannot merge a dict given on the command line into an
    ``Optional[<dataclass>]`` field that is null (``pseudo.skip={p:0.2,jump:[2,3]}`` on pseudo=none), so
    such fields stay ``Any`` at composition and get their types checked right after it.
    ``allowed``: the allowed values in words, for an option checked by :mod:`lnra.schema.validate`'s
    cross checks rather than by a rule.
    """
    metadata = {"rule": rule, "doc": doc, "schema": schema, "allowed": allowed}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    if is_dataclass(default):
        return field(default_factory=lambda: replace(default), metadata=metadata)
    return field(default=default, metadata=metadata)
