"""Finishing an interrupted sweep in its own sweep folder.

``python run.py -m <same overrides> resume=true`` finds the newest sweep folder started by the same
command (its overrides are recorded in ``sweep.json`` when the folder is made; ``resume=``, the launcher
and its settings may differ) and every job runs in its old job folder there:

* a job with ``results.json`` finished: it is reported as done and skipped, without loading any data;
* a job with a checkpoint continues from it (:func:`lnra.run.resume.checkpoint_to_resume`);
* a job never started (or killed before its first checkpoint) starts.

``resume=<sweep folder>`` names the folder instead. The folder is chosen once, in the process that
launches the sweep, and handed to job processes through the environment (``LNRA_SWEEP_DIR``), so a job
that resolves ``hydra.sweep.dir`` again in another process (a SLURM job, minutes later) lands in the
same folder instead of a new one named after its own start time.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lnra.errors import LnraError
from lnra.run.fresh_dir import unique_dir
from lnra.run.run_folder import RESULTS, SWEEP_FILES, SWEEP_RECORD, resume_folder

log = logging.getLogger(__name__)

SWEEP_ENV = "LNRA_SWEEP_DIR"
# Overrides that may change between the interrupted sweep and the command that finishes it.
_FREE = ("resume=", "hydra/launcher=", "hydra.launcher.")


def command_key(overrides: Iterable[str]) -> list[str]:
    """The overrides that make a sweep's cells (in order: the order numbers the jobs)."""
    return [o for o in map(str, overrides) if not o.lstrip("+~").startswith(_FREE)]


def find_sweep(multiruns: Path, overrides: Iterable[str]) -> Path | None:
    """The newest sweep folder under ``multiruns`` that was started with the same cell overrides."""
    key = command_key(overrides)
    matches = []
    for record in Path(multiruns).glob(f"*/{SWEEP_RECORD}"):
        try:
            recorded = json.loads(record.read_text()).get("overrides")
        except (OSError, ValueError):
            continue
        if recorded is not None and command_key(recorded) == key:
            matches.append(record.parent)
    return max(matches, key=lambda p: (p / SWEEP_RECORD).stat().st_mtime_ns) if matches else None


def choose_sweep_dir(multiruns: str, stamp: str, resume: Any, overrides: Iterable[str]) -> str:
    """``hydra.sweep.dir``: the folder a resumed sweep continues in, else a new ``<multiruns>/<stamp>``."""
    pinned = os.environ.get(SWEEP_ENV)
    if pinned:
        return pinned
    overrides = list(map(str, overrides))
    if resume_folder(resume) is not None:
        folder = resume_folder(resume).resolve()
        if not any((folder / name).is_file() for name in SWEEP_FILES):
            raise LnraError(f"resume={resume}: not a sweep folder (no {SWEEP_RECORD} or multirun.yaml); "
                            "give the folder a -m command made, e.g. outputs/multiruns/<time>")
        chosen = str(folder)
    elif resume:
        found = find_sweep(Path(multiruns), overrides)
        if found is None:
            raise LnraError(f"resume: no sweep of this command in {multiruns} (a folder whose {SWEEP_RECORD} "
                            f"lists the overrides {' '.join(command_key(overrides)) or '(none)'}); "
                            "give resume=<sweep folder>, or start the sweep without resume")
        chosen = str(found)
    else:
        chosen = unique_dir(f"{multiruns}/{stamp}")
        Path(chosen, SWEEP_RECORD).write_text(json.dumps({"overrides": overrides}, indent=2))
    if resume:
        log.info("resuming the sweep in %s", chosen)
    os.environ[SWEEP_ENV] = chosen
    return chosen


def finished_auc(run_dir: Path) -> float | None:
    """The AUC in ``run_dir/results.json`` when that job finished, else None."""
    results = Path(run_dir) / RESULTS
    if not results.is_file():
        return None
    try:
        return float(json.loads(results.read_text())["auc_micro"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise LnraError(f"{results} is unreadable ({err}); delete it to run this job again") from None


def finished_cell(cfg: DictConfig, run_dir: Path) -> float | None:
    """The AUC of a job that already finished, when this command resumes (a sweep); else None."""
    if not cfg.get("resume"):
        return None
    auc = finished_auc(run_dir)
    if auc is not None:
        print(f"done before: {run_dir} (AUC {100 * auc:.2f}%, {RESULTS}); skipped")
    return auc
