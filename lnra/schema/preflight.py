"""``run.py``'s pre-flight: compose the command's config and validate it before Hydra starts the run.

Hydra creates the run directory (and ``.hydra/``) before it calls the task function, and it reports
its own composition errors (a wrong type, an unknown key or option) as several lines, exit code 1. So
``run.py`` first composes the same config through Hydra's compose API, which creates nothing, and turns
every refusal — composition's and the validation pass's — into one ``error: key=value: what is allowed``
line, all of them at once, exit code 2. A sweep (``-m``) is checked value by value: each value of each
swept key is composed with the command's other overrides (not every combination; a job whose
combination is wrong still fails on its own, with the same lines in its log).
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser  # the parser hydra.main itself uses
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from lnra.errors import LnraError
from lnra.schema.groups import SCHEMAS
from lnra.schema.validate import config_mistakes, omegaconf_problem, show

# Flags after which Hydra runs nothing (help, printing the config, ...): no pre-flight then.
_NOT_A_RUN = ("help", "hydra_help", "cfg", "info", "shell_completion", "config_dir", "config_path",
              "experimental_rerun")


def _find(overrides: list[Override], key: str) -> Override | None:
    return next((o for o in overrides if o.key_or_group == key), None)


def _unknown_key(key: str, schema_name: str) -> str:
    schema = next((s for s, _ in SCHEMAS.values() if s.__name__ == schema_name), None)
    name = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(name, [f.name for f in fields(schema)], n=1) if schema else []
    hint = f" (did you mean {key[: -len(name)]}{close[0]}?)" if close else ""
    if key.startswith("trainer."):
        hint += f"; another Lightning Trainer argument is added with +{key}=VALUE"
    return f"no such option{hint}"


def _refusal(override: Override, err: OmegaConfBaseException) -> str:
    """The line for a ``key=value`` that OmegaConf refused: an unknown key, or a value of the wrong type."""
    entry = re.search(r"^(.+?)[.\[](\d+)\]?(\.|$)", override.key_or_group.replace("[", ".").replace("]", ""))
    if entry and ("list index out of range" in str(err) or "is not a subclass" in str(err)):
        return f"{override.input_line}: {entry.group(1)} has no entry {entry.group(2)}"
    key = re.sub(r"\[(\d+)\]", r".\1", getattr(err, "full_key", None) or override.key_or_group)
    unknown = re.search(r"Key '.+' (?:not in '(\w+)'|is not in struct)", str(err))
    problem = _unknown_key(key, unknown.group(1) or "") if unknown else omegaconf_problem(err)
    return f"{key}={show(override.value())}: {problem}"


def _explain(err: Exception, overrides: list[Override]) -> tuple[str, Override | None]:
    """One line for a composition error, and the override that caused it (None: it is not an override)."""
    message, cause = str(err), err.__cause__
    merging = re.search(r"Error merging override (.+)", message)
    if merging:
        culprit = next((o for o in overrides if o.input_line == merging.group(1)), None)
        entry = re.search(r"^(.+)\[(\d+)\]$", getattr(cause, "full_key", None) or "")
        if culprit is not None and entry and "is not a subclass" in str(cause):
            problem = f"{entry.group(1)} has no entry {entry.group(2)}"
            return f"{culprit.key_or_group}={show(culprit.value())}: {problem}", culprit
        if culprit is not None and isinstance(cause, OmegaConfBaseException):
            return _refusal(culprit, cause), culprit
    missing_key = re.search(r"Could not override '(.+?)'", message)
    if missing_key:
        culprit = _find(overrides, missing_key.group(1))
        if culprit is not None and isinstance(cause, OmegaConfBaseException):
            return _refusal(culprit, cause), culprit
    missing_option = re.search(r"Could not find '(.+)/(.+?)'", message)
    if missing_option:
        group, option = missing_option.groups()
        choices = re.findall(r"^\t(\S+)$", message, re.M)
        culprit = _find(overrides, group)
        allowed = f"; choose one of {', '.join(choices)}" if choices else ""
        return f"{group}={option}: no such option{allowed}", culprit
    already = re.search(r"An item is already at '(.+?)'", message)
    if already:
        culprit = _find(overrides, already.group(1))
        return f"+{already.group(1)}: already set; drop the '+' to change it", culprit
    full_key = re.search(r"full_key: (\S+)", message + str(cause or ""))
    culprit = _find(overrides, full_key.group(1)) if full_key else None
    first = message.strip().splitlines()[0] if message.strip() else type(err).__name__
    if culprit is not None:
        return f"{culprit.key_or_group}={show(culprit.value())}: {first}", culprit
    return f"cannot compose the configuration: {first}", None


def _is_plain_key(override: Override, config_dir: Path) -> bool:
    """``key=value`` that Hydra applies with ``OmegaConf.update`` (not a group choice, +, ++, ~ or @)."""
    key = override.key_or_group
    special = override.is_add() or override.is_force_add() or override.is_delete() or override.package
    return not special and "/" not in key and not key.startswith("hydra") and not (config_dir / key).is_dir()


def _refused_values(base: DictConfig, plain: list[Override]) -> list[tuple[str, Override]]:
    """The plain ``key=value`` overrides OmegaConf refuses (unknown key, wrong type, a key under a null
    setting), each applied to ``base`` as Hydra applies it — one composition for all of them, instead of
    one composition per refused override."""
    refused = []
    for override in plain:
        parent = override.key_or_group.rpartition(".")[0]
        if parent and OmegaConf.select(base, parent, default="absent") is None:
            refused.append((f"{override.input_line}: {parent} is null here; give it whole "
                            f"({parent}={{...}}) or pick a group option that sets it", override))
            continue
        try:
            OmegaConf.update(base, override.key_or_group, override.value(), merge=True)
        except OmegaConfBaseException as err:
            refused.append((_refusal(override, err), override))
    return refused


def _compose_dropping(config_name: str,
                      overrides: list[Override]) -> tuple[DictConfig | None, list[str], list[Override]]:
    """Compose, leaving out each override that composition refuses: the config, one line for each
    refused override, and the overrides kept."""
    lines: list[str] = []
    kept = list(overrides)
    while True:
        try:
            return compose(config_name=config_name, overrides=[o.input_line for o in kept]), lines, kept
        except (HydraException, OmegaConfBaseException, AttributeError, ValueError) as err:
            line, culprit = _explain(err, kept)
            lines.append(line)
            if culprit is None:
                return None, lines, kept
            kept.remove(culprit)


def _compose(config_name: str, overrides: list[Override],
             config_dir: Path) -> tuple[DictConfig | None, list[str]]:
    """The composed config without the overrides it refuses, and one line for each of those: group
    choices and +/~ first, then every plain ``key=value`` checked on that config, then the whole command."""
    plain = [o for o in overrides if _is_plain_key(o, config_dir)]
    others = [o for o in overrides if all(o is not p for p in plain)]
    base, lines, kept_others = _compose_dropping(config_name, others)
    if base is None:
        return None, lines
    refused = _refused_values(base, plain)
    survivors = [*kept_others, *(p for p in plain if all(p is not r for _, r in refused))]
    kept = [o for o in overrides if any(o is s for s in survivors)]  # in the command's order
    cfg, more, _ = _compose_dropping(config_name, kept)
    return cfg, [*lines, *(line for line, _ in refused), *more]


def _variants(overrides: list[Override]) -> list[list[Override]]:
    """The override lists to compose: the command itself, or per swept value the others plus that value."""
    plain = [o for o in overrides if not o.is_sweep_override()]
    sweeps = [o for o in overrides if o.is_sweep_override()]
    if not sweeps:
        return [plain]
    parser = OverridesParser.create()
    variants = []
    for sweep in sweeps:
        try:
            values = list(sweep.sweep_string_iterator())
        except HydraException:  # an interval sweep (an optimiser's search space): checked by its jobs
            continue
        for value in values:
            variants.append([*plain, parser.parse_override(f"{sweep.get_key_element()}={value}")])
    return variants or [plain]


def command_mistakes(argv: Sequence[str], config_dir: Path) -> list[str]:
    """Every mistake of the command line ``argv`` of ``run.py``, one line each; [] when it is fine or
    when the command runs nothing (``--help``, ``--cfg``, ...)."""
    args = get_args_parser().parse_args(list(argv))
    if any(getattr(args, flag, None) for flag in _NOT_A_RUN):
        return []
    try:
        overrides = OverridesParser.create().parse_overrides(args.overrides)
    except HydraException as err:
        return [f"cannot read the command line: {str(err).strip().splitlines()[0]}"]
    lines = [f"{o.input_line}: several values sweep only with -m (python run.py -m {o.input_line} ...)"
             for o in overrides if o.is_sweep_override() and not args.multirun]
    conf = str(Path(config_dir).resolve())
    with initialize_config_dir(config_dir=conf, version_base="1.3", job_name="run"):
        for variant in _variants(overrides):
            cfg, refused = _compose(args.config_name or "config", variant, config_dir)
            lines += refused
            if cfg is not None:
                lines += [str(m) for m in config_mistakes(cfg)]
    return list(dict.fromkeys(lines))


def single_run_config(argv: Sequence[str], config_dir: Path) -> DictConfig | None:
    """The composed config of a single run, for the checks that look at files on disk before anything
    heavy is imported; None for a sweep (``-m``: each job checks its own) and for commands that run
    nothing. Call it after :func:`preflight`, which has refused every invalid command."""
    args = get_args_parser().parse_args(list(argv))
    if args.multirun or any(getattr(args, flag, None) for flag in _NOT_A_RUN):
        return None
    overrides = OverridesParser.create().parse_overrides(args.overrides)
    conf = str(Path(config_dir).resolve())
    with initialize_config_dir(config_dir=conf, version_base="1.3", job_name="run"):
        cfg, _ = _compose(args.config_name or "config", overrides, config_dir)
    return cfg


def preflight(argv: Sequence[str], config_dir: Path) -> None:
    """Exit with code 2 and one ``error:`` line per mistake (no traceback, nothing created), or return.
    With ``HYDRA_FULL_ERROR=1`` the mistakes are raised as one :class:`LnraError` instead, traceback and all.
    """
    lines = command_mistakes(argv, config_dir)
    if not lines:
        return
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise LnraError("\nerror: ".join(lines))
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    sys.exit(2)
