"""Continuing an interrupted training run in its own run directory, from a checkpoint that holds everything
to go on as if never stopped, random generators included (docs/guide.md, Interrupted runs)."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from lnra.errors import LnraError
from lnra.run.settings import (
    LAST_CHECKPOINT,
    RESULTS,
    SLURM_MARKER,
    is_interrupted,
    newest_checkpoint,
    resume_folder,
    resume_problem,
)

log = logging.getLogger(__name__)


def in_sweep() -> bool:
    """True inside a job of a Hydra multirun (``-m``)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def find_run_to_resume(runs_dir: Path, run_name: str, resume: Any, ckpt_path: Any) -> Path | None:
    """The run directory a command continues, or None: ``resume=<dir>``; for ``resume=true`` the interrupted
    run of ``run_name`` that checkpointed last; in a requeued SLURM job, the run it started."""
    if (folder := resume_folder(resume)) is not None:
        return folder.resolve() if is_interrupted(folder.resolve()) else None
    if resume or ckpt_path == "last":
        pattern = re.compile(rf"\d{{4}}-\d\d-\d\d_\d\d-\d\d-\d\d_{re.escape(run_name)}(-\d+)?")
        runs = [p for p in Path(runs_dir).glob("*") if pattern.fullmatch(p.name) and is_interrupted(p)]
        runs.sort(key=lambda p: newest_checkpoint(p).stat().st_mtime_ns)
        if len(runs) > 1:
            log.info("%d interrupted runs of %s; continuing the newest, %s (others: %s)", len(runs), run_name,
                     runs[-1].name, ", ".join(p.name for p in runs[:-1]))
        return runs[-1] if runs else None
    job = os.environ.get("SLURM_JOB_ID")
    if job and int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0:  # requeued: preempted, or by Lightning
        markers = Path(runs_dir).glob(f"*/{SLURM_MARKER}")  # left by the run this job started
        return next((m.parent for m in markers if m.read_text().strip() == job and is_interrupted(m.parent)),
                    None)
    return None


def checkpoint_to_load(cfg: DictConfig) -> Path | None:
    """The checkpoint ``ckpt_path`` or ``resume=<run dir>`` names, to read before anything is created."""
    if (folder := resume_folder(cfg.get("resume"))) is not None:
        return newest_checkpoint(folder) if folder.is_dir() else None
    ckpt = cfg.get("ckpt_path")
    return Path(ckpt) if ckpt and ckpt != "last" else None


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix[:-1]: node}
    return {k: v for key, value in node.items() for k, v in _flat(value, f"{prefix}{key}.").items()}


def config_changes(run_dir: Path, cfg: DictConfig) -> list[str]:
    """Settings of the resuming command that differ from the interrupted run's ``.hydra/config.yaml``."""
    saved_path = Path(run_dir) / ".hydra" / "config.yaml"
    if not saved_path.is_file():
        return []
    try:
        loaded = OmegaConf.load(saved_path)
        if not isinstance(loaded, DictConfig) or not loaded:
            raise ValueError(f"holds {type(loaded).__name__ if loaded else 'nothing'}, not a run's config")
    except Exception as err:  # noqa: BLE001 — only a record: a damaged one is said, and the run goes on
        log.warning("cannot compare this command's settings with the interrupted run's: %s is damaged (%s)",
                    saved_path, (str(err).splitlines() or ["empty"])[0])
        return []
    saved, current = (_flat(OmegaConf.to_container(config, resolve=False)) for config in (loaded, cfg))
    keys = sorted((saved.keys() | current.keys()) - {"resume", "ckpt_path"})  # expected to change
    return [f"{k}: {saved.get(k, '<unset>')} -> {current.get(k, '<unset>')}" for k in keys
            if saved.get(k, "<unset>") != current.get(k, "<unset>")]


def checkpoint_to_resume(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The checkpoint ``train`` continues from: the run directory's own, else ``ckpt_path`` (a new run from
    its state), else None. Nothing to resume is refused, so a typo never silently starts from scratch."""
    resume, ckpt_path = cfg.get("resume"), cfg.get("ckpt_path")
    if resume and ckpt_path and ckpt_path != "last":
        raise LnraError(f"resume={resume} and ckpt_path={ckpt_path} both say where to continue from; "
                        "give only one")
    if (own := newest_checkpoint(run_dir)) is not None:
        if changes := config_changes(run_dir, cfg):
            log.warning("resuming %s with %d changed settings: %s", run_dir, len(changes),
                        "; ".join(changes[:8]))
        log.info("resuming %s from %s", run_dir, own)
        return own
    if not (resume or ckpt_path == "last"):
        return Path(ckpt_path) if ckpt_path else None  # checked with the config (lnra.run.settings)
    if in_sweep():  # a resumed sweep's job that never reached a checkpoint: it starts now
        log.info("resume: %s has no checkpoint; this job of the sweep starts from the beginning", run_dir)
        return None
    if (folder := resume_folder(resume)) is not None:
        raise LnraError(f"resume={resume}: "
                        f"{resume_problem(folder) or 'a sweep folder: continue it with its -m command'}")
    raise LnraError(f"resume: no interrupted run of '{cfg.run_name}' in {Path(run_dir).parent} (a run "
                    f"directory with {LAST_CHECKPOINT} and no {RESULTS}); check the overrides that make "
                    "run_name (dataset, pseudo) or start a new run without resume")


def finished_cell(cfg: DictConfig, run_dir: Path) -> float | None:
    """The AUC in ``results.json`` of a job that already finished, when this command resumes; else None."""
    results = Path(run_dir) / RESULTS
    if not cfg.get("resume") or not results.is_file():
        return None
    try:
        auc = float(json.loads(results.read_text())["auc_micro"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise LnraError(f"{results} is unreadable ({err}); delete it to run this job again") from None
    print(f"done before: {run_dir} (AUC {100 * auc:.2f}%, {RESULTS}); skipped")
    return auc
