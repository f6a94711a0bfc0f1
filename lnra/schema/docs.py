"""The options table, generated from the schema: ``python run.py --help`` (Hydra's help template calls
the ``lnra_options_help`` resolver) and the README's Options section (``python -m lnra.schema``)."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from lnra.schema.groups import SCHEMAS
from lnra.schema.rules import describe

START, END = "<!-- options:start (python -m lnra.schema --write README.md) -->", "<!-- options:end -->"


@dataclass(frozen=True)
class OptionDoc:
    key: str
    type: str
    allowed: str
    doc: str


def _type_name(hint: Any) -> str:
    if hint is Any:
        return "any"
    if isinstance(hint, type):
        return {"NoneType": "null"}.get(hint.__name__, hint.__name__)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is list:
        return f"list[{_type_name(args[0])}]"
    return " or ".join(_type_name(a) for a in args)  # a union (X | None, int | float)


def _rows(schema: type, prefix: str) -> Iterator[OptionDoc]:
    hints = typing.get_type_hints(schema)
    for spec in fields(schema):
        key, hint, inner = f"{prefix}{spec.name}", hints[spec.name], spec.metadata.get("schema")
        if isinstance(hint, type) and is_dataclass(hint):
            yield from _rows(hint, f"{key}.")
            continue
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is list else None
        if isinstance(item, type) and is_dataclass(item):
            yield OptionDoc(key, "list", "entries as below", spec.metadata.get("doc", ""))
            yield from _rows(item, f"{key}.N.")
            continue
        type_name = "dict or null" if inner else _type_name(hint)
        allowed = spec.metadata.get("allowed") or describe(spec.metadata.get("rule"))
        yield OptionDoc(key, type_name, allowed, spec.metadata.get("doc", ""))
        if inner:
            yield from _rows(inner, f"{key}.")


def sections() -> list[tuple[str, list[OptionDoc]]]:
    """(title, options) per schema: the top level, then each group (and each kind of a group's option)."""
    out = []
    for schema, where in SCHEMAS.values():
        group = where.split(" ")[0]
        out.append((where or "top level", list(_rows(schema, f"{group}." if group else ""))))
    return out


def markdown() -> str:
    lines = ["Every option, its type and its allowed values (checked before anything runs; a mistake "
             "reads `error: key=value: what is allowed`). Other `pytorch_lightning.Trainer` arguments: "
             "`+trainer.NAME=VALUE`.", ""]
    for title, rows in sections():
        lines += [f"**{title}**", "", "| option | type | allowed | meaning |", "|---|---|---|---|"]
        lines += [f"| `{r.key}` | {r.type} | {r.allowed.replace('|', '&#124;')} | {r.doc} |" for r in rows]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def plain_text() -> str:
    """The options for ``--help``, one per line: ``key (type, allowed): meaning``."""
    out = []
    for title, rows in sections():
        out.append(f"{title}:")
        for r in rows:
            allowed = f", {r.allowed}" if r.allowed != "-" else ""
            out.append(f"  {r.key} ({r.type}{allowed}): {r.doc}")
    return "\n".join(out)


def with_table(readme: str) -> str:
    """``readme`` with the text between the options markers replaced by the current table."""
    if START not in readme or END not in readme:
        raise ValueError(f"README has no options markers ({START} ... {END})")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{markdown()}{END}{tail}"


def write_readme(path: Path) -> bool:
    """Refresh the table in ``path``; True when it changed."""
    text = path.read_text()
    new = with_table(text)
    if new != text:
        path.write_text(new)
    return new != text
