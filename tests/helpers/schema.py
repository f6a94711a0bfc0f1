"""Walks over a composed config that several schema tests make."""

from __future__ import annotations


def undeclared(node, prefix: str = "") -> list[str]:
    """Keys of typed nodes that their dataclass does not declare (a YAML may add them unchecked); the
    top level's groups are not fields of the root schema."""
    from dataclasses import fields, is_dataclass

    from omegaconf import DictConfig, ListConfig, OmegaConf

    schema = OmegaConf.get_type(node)
    declared = {f.name for f in fields(schema)} if is_dataclass(schema) else None
    found = [f"{prefix}{k}" for k in node if declared is not None and k not in declared
             and not (prefix == "" and (OmegaConf.is_dict(node[k]) or node[k] is None))]
    for key in node:
        if OmegaConf.is_interpolation(node, key):
            continue
        value = node[key]
        items = enumerate(value) if isinstance(value, ListConfig) else [(None, value)]
        for i, item in items:
            if isinstance(item, DictConfig):
                found += undeclared(item, f"{prefix}{key}." + ("" if i is None else f"{i}."))
    return found
