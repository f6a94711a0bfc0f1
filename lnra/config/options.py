"""Options are the keyword parameters of the classes the config builds: one declaration, in the signature
(docs/extending.md), read with pydantic; a refusal reads ``key=value: must be <allowed>``. A config is
checked whole before anything is built, all mistakes at once; an interpolation is checked where it is set."""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import is_dataclass
from typing import Annotated, Any, Literal, NamedTuple

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from lnra.errors import LnraError


class Option(NamedTuple):  # one keyword parameter
    annotation: Any
    default: Any  # inspect.Parameter.empty when none
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
    section = inspect.cleandoc(obj.__doc__ or "").partition("Args:")[2]
    found = re.findall(r"^\s{4}(\w+)(?: \(.*?\))?: (.+?)(?=\n\s{4}\w+(?: \(.*?\))?: |\n\n|\Z)", section,
                       re.M | re.S)
    return {name: " ".join(text.split()).split(". ")[0].rstrip(".") for name, text in found}


@functools.cache
def options_of(target: Callable[..., Any]) -> dict[str, Option]:
    """Every option of a pydantic model, a function, or a class: its constructor's keyword parameters, then
    those of the first base its ``**kwargs`` are passed on to (a subclass narrowing a few keeps the rest)."""
    if isinstance(target, type) and issubclass(target, BaseModel):
        return {name: Option(f.rebuild_annotation(), f.default, f.description or "", target.__module__)
                for name, f in target.model_fields.items()}
    found: dict[str, Option] = {}
    is_class = isinstance(target, type)
    owners = [c for c in target.__mro__[:-1] if "__init__" in vars(c)] if is_class else [target]  # not object
    for owner in owners:
        init = vars(owner)["__init__"] if is_class else target
        hints = typing.get_type_hints(init, include_extras=True)
        docs = {**_docstring_help(owner), **_docstring_help(init)}
        params = list(inspect.signature(init).parameters.values())[1 if is_class else 0:]
        for p in params:
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in found:
                annotation = hints.get(p.name, Any)
                text = FieldInfo.from_annotation(annotation).description or docs.get(p.name, "")
                found[p.name] = Option(annotation, p.default, text, owner.__module__)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return found


@functools.cache
def _model(target: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of the options, each optional (the run supplies some itself), unknown keys refused."""
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    spec = {name: (o.annotation, None) for name, o in options_of(target).items()}
    return create_model(f"{getattr(target, '__name__', 'options')}Options", __config__=config, **spec)


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types an annotation allows, its ``Annotated`` left out: ``X | None`` → (X, NoneType)."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return typing.get_args(annotation) if is_union else (annotation,)


def settings_class(annotation: Any) -> type | None:
    """The dataclass or pydantic model an annotation allows (its options nest under the key), or None."""
    return next((a for a in _members(annotation) if isinstance(a, type)
                 and (is_dataclass(a) or issubclass(a, BaseModel))), None)


# -- what is allowed, in words -------------------------------------------------------------------------
_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
          type(None): "null", Any: "anything"}
_SIGNS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def describe(annotation: Any) -> str:
    """An annotation as the allowed values, e.g. ``an integer >= 1``; a validator's docstring is its words."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        meta = FieldInfo.from_annotation(annotation).metadata
        if rules := [m.func.__doc__.strip() for m in meta if getattr(m, "func", None) and m.func.__doc__]:
            return rules[0]
        base = describe(args[0])
        if any(getattr(m, "allow_inf_nan", True) is False for m in meta):
            base = base.replace("a ", "a finite ", 1)
        if any(getattr(m, "min_length", None) == 1 for m in meta):  # lnra asks for no other length
            base = base.replace("a ", "a non-empty ", 1)
        ends = sorted((key, getattr(m, key)) for m in meta for key in _SIGNS if hasattr(m, key))
        if len(ends) == 2:  # both: an interval, e.g. in [0, 1)
            (low, a), (high, b) = ends
            return f"{base} in {'[' if low == 'ge' else '('}{a}, {b}{']' if high == 'le' else ')'}"
        return " ".join([base, *(f"{_SIGNS[key]} {value}" for key, value in ends)])
    if origin is Literal:
        return show(args[0]) if len(args) == 1 else "one of " + " | ".join(map(show, args))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(map(describe, args)))
    if origin is tuple and len(args) > 1 and args[-1] is not Ellipsis:
        return f"a list of {len(args)} values (each {describe(args[0])})"
    if origin in (list, tuple) or annotation in (list, tuple):
        item = describe(args[0]) if args else "anything"
        return f"a list (each {item})" if item != "anything" else "a list"
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        return "a mapping"
    if settings_class(annotation):
        return f"a mapping of {annotation.__name__} settings"
    return _NAMES.get(annotation, f"an entry building a {getattr(annotation, '__name__', annotation)}")


# -- refusals ------------------------------------------------------------------------------------------
class Mistake(NamedTuple):  # one invalid option
    key: str
    value: Any  # as given
    problem: str  # what is allowed

    def __str__(self) -> str:
        return f"{self.key}={show(self.value)}: {self.problem}"


def _option_at(annotation: Any, value: Any, loc: tuple[Any, ...]) -> tuple[str, Any, Any]:
    """The option an error is about: its path, annotation and value. Pydantic's location goes on to the
    union member it tried or a list's item, which are not options."""
    path: list[str] = []
    for part in loc:
        mappings = [m for m in _members(annotation) if typing.get_origin(m) in (dict, Mapping)]
        options = options_of(cls) if (cls := settings_class(annotation)) else {}
        if isinstance(part, int) or not (mappings or part in options):
            break
        annotation = typing.get_args(mappings[0])[1] if mappings else options[part].annotation
        value = value.get(part) if isinstance(value, Mapping) else None
        path.append(part)
    return ".".join(path), annotation, value


def refusals(target: Callable[..., Any], values: Mapping[str, Any], prefix: str = "") -> list[Mistake]:
    """What ``target`` (a class or function, or a pydantic model) refuses of ``values``: one mistake per
    option, however many union members pydantic tried (``prefix``: where the values sit in the config)."""
    try:
        _model(target).model_validate(dict(values))
    except ValidationError as err:
        found: dict[str, Mistake] = {}
        for error in err.errors():
            key, annotation, value = _option_at(_model(target), values, error["loc"])
            # an unknown key (a dataclass's is an unexpected argument): the walk stopped at its parent
            if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
                *parents, name = map(str, error["loc"])
                key, value = ".".join([*parents, name]), error["input"]
                known = options_of(cls) if (cls := settings_class(annotation)) else {}
                names = difflib.get_close_matches(name, list(known), n=1)
                close = [".".join([*parents, n]) for n in names]
                problem = "no such option" + (f" (did you mean {prefix}{close[0]}?)" if close else "")
            elif error["type"] in ("value_error", "assertion_error"):
                problem = re.sub(r"^(Value|Assertion) error, ", "", error["msg"])
            else:
                problem = f"must be {describe(annotation)}"
            found.setdefault(key, Mistake(prefix + key, value, problem))
        return list(found.values())
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


def checked(cls: type) -> type:
    """Class decorator: the constructor refuses what its signature does not allow, as the config check."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807 - it replaces the constructor
        given = inspect.signature(init).bind(self, *args, **kwargs).arguments
        if problems := refusals(cls, {k: v for k, v in given.items() if k in options_of(cls)}):
            raise LnraError("; ".join(map(str, problems)))
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


# -- the config check ----------------------------------------------------------------------------------
HYDRA_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_")


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _mistakes(node: DictConfig, prefix: str, checks: Callable[..., Any] | None = None) -> list[Mistake]:
    """The mistakes of a node (the run's settings against ``checks``, an entry against its class's signature,
    a group such as ``callbacks`` not at all: its parent holds its values), then those of the nodes below."""
    values, found, below = {}, [], []
    for key in node:
        if key in HYDRA_KEYS or OmegaConf.is_interpolation(node, key):
            continue
        try:  # what a key that does not resolve holds is still checked
            value = node[key]
            is_list = isinstance(value, ListConfig)
            items = [(f"{key}.{i}", v) for i, v in enumerate(value)] if is_list else [(key, value)]
            below += [(f"{prefix}{where}.", item) for where, item in items if isinstance(item, DictConfig)]
            plain = _plain(value)
        except OmegaConfBaseException as err:  # e.g. ${oc.env:VAR} without VAR
            if checks or "_target_" in node:
                raw = OmegaConf.to_container(node, resolve=False).get(key)
                reason = str(err).splitlines()[0]
                found.append(Mistake(f"{prefix}{key}", raw, f"cannot be resolved ({reason})"))
            continue
        if not any(isinstance(item, DictConfig) and "_target_" in item for _, item in items):
            values[key] = plain
    if "_target_" in node:
        try:
            checks = import_target(node._target_)
        except (ValueError, OmegaConfBaseException) as err:
            found.append(Mistake(f"{prefix}_target_", node.get("_target_"), str(err)))
    if checks is not None:
        found += refusals(checks, values, prefix)
    for where, child in below:
        found += _mistakes(child, where)
    return found


def config_mistakes(cfg: DictConfig, settings: type[BaseModel],
                    relations: tuple[Callable[[DictConfig], Iterator[Mistake]], ...] = ()) -> list[Mistake]:
    """Every mistake of ``cfg`` once: the settings, every entry, then the ``relations``."""
    found = _mistakes(cfg, "", settings)
    for relation in relations:  # one raises where its options are of the wrong kind: reported above
        with suppress(TypeError, AttributeError, ValueError, OmegaConfBaseException):
            found += relation(cfg)
    return list({str(m): m for m in found}.values())


def select(cfg: DictConfig, key: str) -> Any:
    """A value for the relations (plain Python), None where absent."""
    return _plain(OmegaConf.select(cfg, key, default=None))
