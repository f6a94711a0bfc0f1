"""Options are the keyword parameters of the classes the config builds: one declaration, in the signature
(docs/extending.md), read with pydantic; a refusal reads ``key=value: must be <allowed>``."""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Annotated, Any, Literal

import annotated_types as at
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from lnra.errors import LnraError

HYDRA_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_")
REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Option:
    """One keyword parameter: its annotation, default (``REQUIRED`` when none) and line of help."""

    name: str
    annotation: Any
    default: Any
    help: str
    owner: str  # the module of the class that declares it (a subclass's own, or a base's)


def import_target(path: str) -> Callable[..., Any]:
    """The class or function a ``_target_`` names; ValueError with the reason when it cannot be imported."""
    module, _, name = str(path).rpartition(".")
    if not module:
        raise ValueError("must name a class as module.Class")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import it ({err})") from None


def _docstring_help(obj: Any) -> dict[str, str]:
    """``name: text`` entries of a Google-style ``Args:`` section (how Lightning documents its classes)."""
    doc = obj.__doc__ and inspect.cleandoc(obj.__doc__) or ""
    section = doc.split("Args:", 1)[1] if "Args:" in doc else ""
    found = re.findall(r"^\s{4}(\w+)(?: \(.*?\))?: (.+?)(?=\n\s{4}\w+(?: \(.*?\))?: |\n\n|\Z)", section,
                       re.M | re.S)
    return {name: " ".join(text.split()).split(". ")[0].rstrip(".") for name, text in found}


@functools.cache
def options_of(target: Callable[..., Any]) -> dict[str, Option]:
    """Every option of a function, or of a class: its constructor's keyword parameters, then those of the
    first base its ``**kwargs`` are passed on to (a subclass declaring a few stricter ones keeps the rest)."""
    found: dict[str, Option] = {}
    is_class = isinstance(target, type)
    for owner in target.__mro__[:-1] if is_class else [target]:  # object's __init__ left out
        init = owner.__dict__.get("__init__") if is_class else target
        if init is None:
            continue
        hints = typing.get_type_hints(init, include_extras=True)
        docs = {**_docstring_help(owner), **_docstring_help(init)} if is_class else {}
        params = list(inspect.signature(init).parameters.values())[1 if is_class else 0:]
        for p in params:
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in found:
                annotation = hints.get(p.name, Any)
                text = next((m.description for m in getattr(annotation, "__metadata__", ())
                             if isinstance(m, FieldInfo) and m.description), docs.get(p.name, ""))
                found[p.name] = Option(p.name, annotation, p.default, text, owner.__module__)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return found


@functools.cache
def _model(target: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of the options, each optional (the run supplies some itself), unknown keys refused."""
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    spec = {name: (o.annotation, None) for name, o in options_of(target).items()}
    return create_model(f"{getattr(target, '__name__', 'options')}Options", __config__=config, **spec)


# -- what is allowed, in words -------------------------------------------------------------------------
_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
          type(None): "null", dict: "a mapping", Any: "anything"}


def _bounds(meta: list[Any]) -> str:
    lo = next(((m.ge, "[") for m in meta if isinstance(m, at.Ge)), None) or next(
        ((m.gt, "(") for m in meta if isinstance(m, at.Gt)), None)
    hi = next(((m.le, "]") for m in meta if isinstance(m, at.Le)), None) or next(
        ((m.lt, ")") for m in meta if isinstance(m, at.Lt)), None)
    if lo and hi:
        return f"in {lo[1]}{lo[0]}, {hi[0]}{hi[1]}"
    if lo:
        return f"{'>=' if lo[1] == '[' else '>'} {lo[0]}"
    return f"{'<=' if hi[1] == ']' else '<'} {hi[0]}" if hi else ""


def _constraints(meta: list[Any]) -> list[str]:
    words = ["finite" for m in meta if getattr(m, "allow_inf_nan", None) is False] + [_bounds(meta)]
    words += [f"a multiple of {m.multiple_of}" for m in meta if isinstance(m, at.MultipleOf)]
    low = next((m.min_length for m in meta if isinstance(m, at.MinLen)), None)
    high = next((m.max_length for m in meta if isinstance(m, at.MaxLen)), None)
    if low == high and low is not None:
        words.append(f"of {low} values")
    elif low == 1 and high is None:
        words.append("non-empty")
    elif low or high:
        words.append(f"of {low or 0} to {high if high is not None else 'any number of'} values")
    return [w for w in words if w]


def describe(annotation: Any) -> str:
    """An annotation as the allowed values, e.g. ``an integer >= 1``, ``cutmix | smoothmix_s``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        meta = [m for item in annotation.__metadata__
                for m in (item.metadata if isinstance(item, FieldInfo) else [item])]
        rule = next((str(m.func.__doc__).strip() for m in meta if getattr(m, "func", None)
                     and m.func.__doc__), None)
        words, base = _constraints(meta), describe(args[0])
        if "non-empty" in words and base.startswith(("a string", "a list")):
            words.remove("non-empty")
            base = base.replace("a ", "a non-empty ", 1)
        elif any(w.startswith("of ") for w in words) and base.startswith("a list"):
            count = next(w for w in words if w.startswith("of "))
            words.remove(count)
            base = base.replace("a list", f"a list {count}", 1)
        if not words:
            return rule or base
        if "finite" in words:
            words.remove("finite")
            base = f"a finite {base.removeprefix('a ')}"
        return rule or " and ".join([base, *words]).replace(" and ", " ", 1)
    if origin is Literal:
        values = " | ".join("null" if a is None else str(a).lower() if isinstance(a, bool) else str(a)
                            for a in args)
        return f"one of {values}" if len(args) > 1 else values
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(a) for a in args))
    if origin is tuple and len(args) > 1 and args[-1] is not Ellipsis:
        return f"a list of {len(args)} values (each {describe(args[0])})"
    if origin in (list, tuple, typing.Sequence) or annotation in (list, tuple):
        item = describe(args[0]) if args else "anything"
        return f"a list (each {item})" if item != "anything" else "a list"
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        return "a mapping"
    if isinstance(annotation, type) and (is_dataclass(annotation) or issubclass(annotation, BaseModel)):
        return f"a mapping of {annotation.__name__} settings"
    if annotation in _NAMES:
        return _NAMES[annotation]
    return f"an entry building a {getattr(annotation, '__name__', annotation)}"


def _step(annotation: Any, part: Any) -> Any:
    """The annotation of ``part`` (a field name or list index) inside ``annotation``, or None."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _step(args[0], part)
    if origin in (typing.Union, types.UnionType):
        return next((found for a in args for found in [_step(a, part)] if found is not None), None)
    if isinstance(part, int) and origin in (list, tuple, typing.Sequence) and args:
        return args[0]
    if isinstance(part, str) and origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    return _fields(annotation).get(part)


def _fields(annotation: Any) -> dict[str, Any]:
    """The fields of a dataclass or pydantic model (name → annotation); none for any other annotation."""
    if isinstance(annotation, type) and is_dataclass(annotation):
        hints = typing.get_type_hints(annotation, include_extras=True)
        return {f.name: hints[f.name] for f in fields(annotation)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {name: f.rebuild_annotation() for name, f in annotation.model_fields.items()}
    return {}


@dataclass(frozen=True)
class Mistake:
    """One invalid option: the key, the value given and what is allowed."""

    key: str
    value: Any
    problem: str

    def __str__(self) -> str:
        return f"{self.key}={show(self.value)}: {self.problem}"


def _names(annotation: Any) -> list[str]:
    """The option names inside a nested settings type (for "did you mean")."""
    while typing.get_origin(annotation) in (Annotated, typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return list(_fields(annotation))


def _option_path(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[str], Any, list[str]]:
    """The option an error is about (its path, annotation, and the names beside it): pydantic's location
    also names the union member it tried, which is not an option."""
    path: list[str] = []
    annotation: Any = model
    names = list(model.model_fields)
    for part in loc:
        inner = None if isinstance(part, int) else _step(annotation, part)  # a list's item: the list
        if inner is None:
            break
        names = _names(annotation)
        path.append(str(part))
        annotation = inner
    return path, annotation if path else None, names


def _problem(error: dict[str, Any], annotation: Any, names: list[str], prefix: str) -> str:
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][-1]), names, n=1)
        where = prefix + "".join(f"{part}." for part in error["loc"][:-1])
        return "no such option" + (f" (did you mean {where}{close[0]}?)" if close else "")
    if error["type"] in ("value_error", "assertion_error"):
        return re.sub(r"^(Value|Assertion) error, ", "", error["msg"])
    return f"must be {describe(annotation)}"


def refusals(target: Callable[..., Any], values: Mapping[str, Any], model: type[BaseModel] | None = None,
             prefix: str = "") -> list[Mistake]:
    """What ``target`` (or a given pydantic ``model``) refuses of ``values``: one mistake per option, however
    many union members pydantic tried (``prefix``: where the values sit in the config)."""
    model = model or _model(target)
    try:
        model.model_validate(dict(values))
    except ValidationError as err:
        found: dict[tuple[str, ...], str] = {}
        for error in err.errors():
            path, annotation, names = _option_path(model, error["loc"])
            if error["type"] == "extra_forbidden":
                path = [str(part) for part in error["loc"]]
            found.setdefault(tuple(path), _problem(error, annotation, names, prefix))
        return [Mistake(prefix + ".".join(path), value_at(values, path), problem)
                for path, problem in found.items()]
    return []


def effective_options(node: Mapping[str, Any] | None) -> dict[str, Any]:
    """An entry's options as its object gets them: the signature's plain defaults overlaid by the entry's."""
    if node is None:
        return {}
    defaults = {name: o.default for name, o in options_of(import_target(node["_target_"])).items()
                if isinstance(o.default, int | float | str | bool | tuple | list)}
    return {**defaults, **{k: v for k, v in node.items() if not str(k).startswith("_")}}


def show(value: Any) -> str:
    """A value as the user types it on the command line."""
    if isinstance(value, bool) or value is None or value == "":
        return {True: "true", False: "false", None: "null", "": "''"}[value]
    if isinstance(value, list | tuple):
        return "[" + ",".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{show(v)}" for k, v in value.items()) + "}"
    return str(value)


def value_at(values: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` inside nested dicts and lists (None where there is none)."""
    for part in path:
        if isinstance(values, Mapping):
            values = values.get(part)
        elif isinstance(values, list | tuple) and part.isdigit() and int(part) < len(values):
            values = values[int(part)]
        else:
            return None
    return values


def checked(cls: type) -> type:
    """Class decorator: the constructor refuses what its signature does not allow, as the config check."""
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807 - it replaces the constructor
        bound = signature.bind(self, *args, **kwargs).arguments
        values = {k: v for k, v in list(bound.items())[1:] if signature.parameters[k].kind
                  not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}
        if problems := refusals(cls, values):
            raise LnraError("; ".join(map(str, problems)))
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls
