"""The validation pass: every value of a composed config against its schema's rules, and the few checks that
relate two options — all mistakes at once, each as one ``key=value: what is allowed`` line.

It reads no data: what needs the files (label length vs frames, intruder folders, a checkpoint's
contents) is checked where the files are read, with its own message.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from lnra.errors import LnraError
from lnra.pseudo.probability import probability_sum_problem
from lnra.schema.rules import PROBABILITY


@dataclass(frozen=True)
class Mistake:
    """One invalid option: the key, the value given and what is allowed."""

    key: str
    value: Any
    problem: str
    removed: bool = False  # ~key on the command line

    def __str__(self) -> str:
        if self.removed:
            return f"~{self.key}: {self.problem}"
        return f"{self.key}={show(self.value)}: {self.problem}"


def show(value: Any) -> str:
    """A value as the user would type it on the command line."""
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=False)
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if value == "":
        return "''"
    if isinstance(value, list):
        return "[" + ",".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _field_mistakes(node: DictConfig, prefix: str) -> Iterator[Mistake]:
    """The rules of the dataclass ``node`` was built from (if any), then of every node below it."""
    schema = OmegaConf.get_type(node)
    specs = {f.name: f for f in fields(schema)} if isinstance(schema, type) and is_dataclass(schema) else {}
    for name in node:
        key = f"{prefix}{name}"
        try:
            value = node[name]
        except OmegaConfBaseException as err:  # e.g. ${oc.env:VAR} without VAR
            raw = OmegaConf.to_container(node, resolve=False).get(name)
            yield Mistake(key, raw, f"cannot be resolved ({str(err).splitlines()[0]})")
            continue
        if OmegaConf.is_interpolation(node, name):
            continue  # e.g. model.net.height = ${dataset.height}: checked where the value is set
        rule = specs[name].metadata.get("rule") if name in specs else None
        if rule is not None and value is not None:
            problem = rule.problem(_plain(value))
            if problem:
                yield Mistake(key, value, problem)
        inner = specs[name].metadata.get("schema") if name in specs else None
        if inner is not None and isinstance(value, DictConfig):
            yield from _removed(inner, value, f"{key}.")
            typed = OmegaConf.structured(inner)
            for item in value:  # one by one, so that each wrong key or type is reported
                try:
                    typed.merge_with({item: value[item]})
                except OmegaConfBaseException as err:
                    yield Mistake(f"{key}.{item}", value[item], omegaconf_problem(err))
            value = typed
        if isinstance(value, DictConfig):
            yield from _field_mistakes(value, f"{key}.")
        elif isinstance(value, ListConfig):
            for i, item in enumerate(value):
                if isinstance(item, DictConfig):
                    yield from _field_mistakes(item, f"{key}.{i}.")
    if specs:
        yield from _removed(schema, node, prefix)


def _removed(schema: type, node: DictConfig, prefix: str) -> Iterator[Mistake]:
    """Options of ``schema`` that ``~key`` deleted: the code reads every one of them."""
    for spec in fields(schema):
        if spec.name not in node:
            yield Mistake(f"{prefix}{spec.name}", None, "is required: set a value instead of removing it",
                          removed=True)


def omegaconf_problem(err: OmegaConfBaseException) -> str:
    """OmegaConf's reason for refusing a value or key, as what is allowed instead."""
    first = str(err).splitlines()[0]
    converted = re.search(r"could not be converted to (\w+)", first)
    if converted:
        kinds = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false",
                 "String": "a string"}
        return f"must be {kinds.get(converted.group(1), converted.group(1))}"
    if "is not a valid bool" in first:
        return "must be true or false"
    if "Cannot convert" in first and "to string" in first:
        return "must be a string"
    hint = re.search(r"incompatible with type hint '(.+)'", first)
    if hint:
        kinds = hint.group(1).replace("Optional[", "").replace("Union[", "").rstrip("]")
        return f"must be {kinds.replace(', ', ' or ')}"
    if re.search(r"Key '(.+)' not in '(\w+)'", first):
        return "no such option"
    if re.search(r"is not a ListConfig, list or tuple", first):
        return "must be a list"
    if re.search(r"is not a subclass of \w+", first):
        return "must be a dict of settings"
    return first


def _get(cfg: DictConfig, key: str) -> Any:
    try:
        return OmegaConf.select(cfg, key, default=None)
    except OmegaConfBaseException:
        return None  # reported by the field rules


def _checkpoint(cfg: DictConfig) -> Iterator[Mistake]:
    ckpt = _get(cfg, "ckpt_path")
    if _get(cfg, "task") == "test" and not ckpt:
        yield Mistake("ckpt_path", ckpt, "task=test needs a checkpoint: add ckpt_path=PATH (lnra .ckpt or "
                      "the paper's .pth)")
    elif ckpt and ckpt != "last" and not Path(str(ckpt)).is_file():
        yield Mistake("ckpt_path", ckpt, "checkpoint not found (give a file, or last)")


def _resume(cfg: DictConfig) -> Iterator[Mistake]:
    resume = _get(cfg, "resume")
    if isinstance(resume, bool) or resume is None or str(resume).lower() in ("true", "false"):
        return
    if not isinstance(resume, str):
        yield Mistake("resume", resume, "must be true, false or a run directory")
    elif not Path(resume).expanduser().is_dir():
        yield Mistake("resume", resume, "run directory not found (true: the newest interrupted run)")


def _probabilities(cfg: DictConfig) -> Iterator[Mistake]:
    """Each training sample gets at most one pseudo-anomaly type (docs/method.md §3)."""
    skip, patches = _get(cfg, "pseudo.skip"), _get(cfg, "pseudo.patches") or []
    if not isinstance(skip, (DictConfig, type(None))) or not all(isinstance(p, DictConfig) for p in patches):
        return  # reported by the field rules
    ps = ([skip.get("p")] if skip else []) + [patch.get("p") for patch in patches]
    if not all(PROBABILITY.fits(p) for p in ps):
        return  # reported by the field rules
    problem = probability_sum_problem(ps)
    if problem:
        keys = (["pseudo.skip.p"] if skip else []) + [f"pseudo.patches.{i}.p" for i in range(len(patches))]
        yield Mistake("+".join(keys), f"{sum(ps):.3f}", problem)


def _callbacks(cfg: DictConfig) -> Iterator[Mistake]:
    """Each entry of the ``callbacks`` group is a class to build (null leaves it out); its other keys are
    the constructor's, which only Lightning and the class itself know."""
    entries = _get(cfg, "callbacks")
    if entries is None:
        return
    if not isinstance(entries, DictConfig):
        yield Mistake("callbacks", entries, "must be a mapping of name -> {_target_: a callback class, ...}")
        return
    for name in entries:
        entry = entries[name]
        if entry is not None and not (isinstance(entry, DictConfig) and entry.get("_target_")):
            yield Mistake(f"callbacks.{name}", entry, "needs a _target_ (the callback's class, e.g. "
                          "pytorch_lightning.callbacks.EarlyStopping), or null to leave it out")


def _generated_length(cfg: DictConfig) -> Iterator[Mistake]:
    frames, clip_len = _get(cfg, "dataset.generate.frames_per_video"), _get(cfg, "dataset.clip_len")
    if isinstance(frames, int) and isinstance(clip_len, int) and 0 < frames < clip_len:
        yield Mistake("dataset.generate.frames_per_video", frames,
                      f"must be at least dataset.clip_len={clip_len} (a video must hold one clip)")


def _output_dir(cfg: DictConfig) -> Iterator[Mistake]:
    """Run directories go under ``paths.output_dir``: probe, with a directory made and removed at once in
    the nearest existing folder, that they can be created (permissions, read-only or virtual file
    systems), so the run does not fail after Hydra has started it."""
    out = _get(cfg, "paths.output_dir")
    if not isinstance(out, str) or not out:
        return
    existing = Path(out).expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is a file")
        os.rmdir(tempfile.mkdtemp(prefix=".lnra-probe-", dir=existing))
    except OSError as err:
        reason = err.strerror or str(err)
        yield Mistake("paths.output_dir", out,
                      f"cannot create run directories there ({reason} in {existing})")


CROSS_CHECKS: tuple[Callable[[DictConfig], Iterator[Mistake]], ...] = (
    _checkpoint, _resume, _probabilities, _callbacks, _generated_length, _output_dir,
)


def config_mistakes(cfg: DictConfig) -> list[Mistake]:
    """Every mistake of ``cfg``, in config order, each once."""
    found = list(_field_mistakes(cfg, ""))
    for check in CROSS_CHECKS:
        found.extend(check(cfg))
    return list({str(m): m for m in found}.values())


def check_config(cfg: DictConfig) -> None:
    """Raise one :class:`LnraError` listing every mistake (one per line) — the task function's guard for
    jobs started without ``run.py``'s pre-flight (a sweep's jobs, other launchers)."""
    mistakes = config_mistakes(cfg)
    if mistakes:
        raise LnraError("\nerror: ".join(str(m) for m in mistakes))
