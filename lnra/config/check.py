"""One check of a composed config, before anything is built: every mistake at once, one line each. An
interpolation is checked where it is set, not where it is read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel

from lnra.config.options import HYDRA_KEYS, Mistake, import_target, refusals

Relation = Callable[[DictConfig], Iterator[Mistake]]


def is_entry(value: Any) -> bool:
    return isinstance(value, DictConfig) and "_target_" in value


def _plain(value: Any) -> Any:
    is_node = isinstance(value, DictConfig | ListConfig)
    return OmegaConf.to_container(value, resolve=True) if is_node else value


def _items(key: Any, value: Any) -> list[tuple[str, Any]]:
    """(key, value) of a config value, or of each item of a list."""
    is_list = isinstance(value, ListConfig)
    return [(f"{key}.{i}", v) for i, v in enumerate(value)] if is_list else [(key, value)]


def _values(node: DictConfig, prefix: str) -> tuple[dict[str, Any], list[Mistake], list[tuple[str, Any]]]:
    """A node's own values, the keys that do not resolve, and the nested entries (key, node)."""
    values, broken, nested = {}, [], []
    for key in node:
        if key in HYDRA_KEYS or OmegaConf.is_interpolation(node, key):
            continue
        try:
            value = node[key]
            plain = _plain(value)
        except OmegaConfBaseException as err:  # e.g. ${oc.env:VAR} without VAR
            raw = OmegaConf.to_container(node, resolve=False).get(key)
            broken.append(Mistake(f"{prefix}{key}", raw, f"cannot be resolved ({str(err).splitlines()[0]})"))
            continue
        entries = [(k, v) for k, v in _items(key, value) if is_entry(v)]
        nested += entries
        if not entries:
            values[key] = plain
    return values, broken, nested


def entry_mistakes(node: DictConfig, prefix: str) -> list[Mistake]:
    """A ``_target_`` entry against its class's signature, then the entries nested in it."""
    values, found, nested = _values(node, prefix)
    try:
        target = import_target(node._target_)
    except (ValueError, OmegaConfBaseException) as err:
        found.append(Mistake(f"{prefix}_target_", node.get("_target_"), str(err)))
    else:
        found += refusals(target, values, prefix=prefix)
    for key, child in nested:
        found += entry_mistakes(child, f"{prefix}{key}.")
    return found


def _walk(node: DictConfig, prefix: str) -> list[Mistake]:
    """The entries below a settings node (a group such as ``callbacks`` or ``pseudo``)."""
    found: list[Mistake] = []
    for key in node:
        try:
            value = node[key]
        except OmegaConfBaseException:
            continue  # reported by the settings check
        for where, item in _items(key, value):
            if is_entry(item):
                found += entry_mistakes(item, f"{prefix}{where}.")
            elif isinstance(item, DictConfig):
                found += _walk(item, f"{prefix}{where}.")
    return found


def config_mistakes(cfg: DictConfig, settings: type[BaseModel], relations: tuple[Relation, ...] = ()
                    ) -> list[Mistake]:
    """Every mistake of ``cfg`` (but ``hydra``) once: the settings, every entry, then the ``relations``."""
    values, found, _ = _values(cfg, "")
    found += refusals(None, values, settings)
    found += _walk(cfg, "")
    for relation in relations:
        try:
            found += relation(cfg)
        except (TypeError, AttributeError, ValueError, OmegaConfBaseException):
            continue  # its options are of the wrong kind, which the checks above reported
    return list({str(m): m for m in found}.values())


def select(cfg: DictConfig, key: str) -> Any:
    """A value for the relations (plain Python), None where absent."""
    return _plain(OmegaConf.select(cfg, key, default=None))
