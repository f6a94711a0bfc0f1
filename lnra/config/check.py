"""One check of a composed config, before anything is built: every mistake at once, one line each. An
interpolation is checked where it is set, not where it is read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel

from lnra.config.options import Mistake, import_target, refusals

HYDRA_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_")


def _plain(value: Any) -> Any:
    is_node = isinstance(value, DictConfig | ListConfig)
    return OmegaConf.to_container(value, resolve=True) if is_node else value


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
    for relation in relations:
        try:
            found += relation(cfg)
        except (TypeError, AttributeError, ValueError, OmegaConfBaseException):
            continue  # its options are of the wrong kind, which the checks above reported
    return list({str(m): m for m in found}.values())


def select(cfg: DictConfig, key: str) -> Any:
    """A value for the relations (plain Python), None where absent."""
    return _plain(OmegaConf.select(cfg, key, default=None))
