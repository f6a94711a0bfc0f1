"""``python run.py``'s command line: read as Hydra reads it, composed once, checked once, run once. Options
live in the classes' signatures, not the YAML, so a plain ``key=value`` goes to Hydra as ``++key=value``."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from pathlib import Path

from hydra._internal.callbacks import Callbacks
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobStatus, run_job
from hydra.errors import HydraException
from hydra.types import HydraContext, RunMode, TaskFunction
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

from lnra.errors import LnraError


def prepare(overrides: Sequence[str], conf_dir: Path) -> list[str]:
    """The overrides as Hydra should read them (``logger=false`` as ``logger=none``, ``++key=value``)."""
    out = []
    for text in overrides:
        key, _, value = text.partition("=")
        if key == "logger" and value.lower() in {"false", "null", "none", "0"}:  # as Trainer(logger=False)
            text = "logger=none"
        elif "=" in text and key[:1] not in "+~" and not key.startswith("hydra.") and "/" not in key \
                and not (conf_dir / key).is_dir():
            text = f"++{text}"
        out.append(text)
    return out


def command_mistakes(overrides: Sequence[str], conf_dir: Path, multirun: bool) -> tuple[list[str], list[str]]:
    """What is wrong with the command line before composing, and the overrides that are fine to check on."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as err:
        return [f"cannot read the command line: {str(err).strip().splitlines()[0]}"], []
    lines, good = [], []
    searchpath = next((o.value() or [] for o in parsed if o.key_or_group == "hydra.searchpath"), [])
    conf_dirs = [conf_dir, *(Path(str(p).removeprefix("file://")) for p in searchpath)]  # a user's configs
    for o in parsed:
        before = len(lines)
        if o.is_sweep_override() and not multirun:
            lines.append(f"{o.input_line}: several values sweep only with -m "
                         f"(python run.py -m {o.input_line})")
            continue
        group = o.key_or_group
        if any((conf / group).is_dir() for conf in conf_dirs) and not o.is_delete():
            known = sorted({p.stem for conf in conf_dirs for p in (conf / group).glob("*.yaml")})
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.value()]
            for value in values:
                if value is not None and str(value) not in known:
                    close = difflib.get_close_matches(str(value), known, n=1, cutoff=0.5)
                    hint = f" (did you mean {close[0]}?)" if close else ""
                    lines.append(f"{group}={value}: no such option{hint}; choose one of {', '.join(known)}")
        if len(lines) == before:
            good.append(o.input_line)
    return lines, good


def variants(overrides: Sequence[str]) -> Iterator[list[str]]:
    """The override lists a sweep is checked with: one swept value at a time, not every combination."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]
    sweeps: list[Override] = [o for o in parsed if o.is_sweep_override()]
    if not sweeps:
        yield plain
    for sweep in sweeps:
        try:
            values = list(sweep.sweep_string_iterator())
        except HydraException:  # an interval sweep (an optimiser's search space): its jobs check it
            continue
        prefix = sweep.input_line.split("=", 1)[0]
        yield from ([*plain, f"{prefix}={value}"] for value in values)


class Command:
    """Hydra for ``conf/``, composing without Hydra's own run loop (which makes the run directory first)."""

    def __init__(self, conf_dir: Path) -> None:
        self.hydra = Hydra.create_main_hydra2("run", create_config_search_path(str(conf_dir)))

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        """The run's config, ``hydra`` node included; one ``LnraError`` line if Hydra cannot compose it."""
        try:
            return self.hydra.compose_config("config", list(overrides), run_mode=RunMode.RUN,
                                             with_log_configuration=False)
        except (HydraException, OmegaConfBaseException) as err:
            raise LnraError(f"cannot compose the configuration: {str(err).strip().splitlines()[0]}") from None

    def run(self, cfg: DictConfig, run_dir: Path, task: TaskFunction) -> object:
        """Run ``task`` as Hydra runs a job (``.hydra/`` files, logging, ``HydraConfig``) in ``run_dir``."""
        with open_dict(cfg):
            cfg.hydra.run.dir = str(run_dir)
            cfg.hydra.mode = RunMode.RUN
        context = HydraContext(config_loader=self.hydra.config_loader, callbacks=Callbacks(cfg))
        job = run_job(task_function=task, config=cfg, job_dir_key="hydra.run.dir", job_subdir_key=None,
                      hydra_context=context)
        if job.status == JobStatus.FAILED:
            raise job._return_value
        return job.return_value
