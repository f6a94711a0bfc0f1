"""What a run's folder holds — its outputs, the checkpoint it continues from — and whether a folder named by
``resume=`` can be continued. Free of torch and of the other run modules, so that the config's relations,
the run and sweep folders and resuming all read a folder the same way."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from lnra.diskio import read_problem

RESULTS = "results.json"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
RUN_OUTPUTS = (RESULTS, "scores.csv", "checkpoints")
SLURM_MARKER = ".slurm_job_id"  # a SLURM job's run: found again when the job is requeued
SWEEP_RECORD = "sweep.json"
SWEEP_FILES = (SWEEP_RECORD, "multirun.yaml")  # what makes a folder a sweep's (Hydra writes multirun.yaml)


def resume_folder(resume: Any) -> Path | None:
    """The run (or sweep) folder ``resume=`` names, or None when it is true, false or empty."""
    if isinstance(resume, str) and resume.strip().lower() not in ("true", "false", ""):
        return Path(resume).expanduser()
    return None


def outputs_in(folder: Path) -> list[str]:
    """The run outputs ``folder`` holds: ``results.json``, ``scores.csv``, checkpoints (a folder counts when
    it holds one)."""
    return [name for name in RUN_OUTPUTS if (folder / name).is_file() or any((folder / name).glob("*.ckpt"))]


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint to continue ``run_dir`` from: the newer complete one of ``last.ckpt`` and a SLURM
    ``hpc_ckpt``. A damaged file does not count, so a resume never picks (and writes into) a run it
    cannot continue."""
    run_dir = Path(run_dir)
    candidates = [run_dir / LAST_CHECKPOINT, *run_dir.glob("hpc_ckpt_*.ckpt")]
    # torch.save writes a zip archive, whose directory is at the end: a cut-off file has none
    existing = [p for p in candidates if p.is_file() and zipfile.is_zipfile(p)]
    return max(existing, key=lambda p: p.stat().st_mtime_ns) if existing else None


def is_interrupted(run_dir: Path) -> bool:
    run_dir = Path(run_dir)
    return run_dir.is_dir() and not (run_dir / RESULTS).exists() and newest_checkpoint(run_dir) is not None


def resume_problem(folder: Path) -> str | None:
    """Why the run folder ``resume=`` names cannot be continued — not a readable folder, finished, nothing
    (or only a damaged file) to continue from — or None; a sweep's folder (``-m ... resume=<folder>``) is
    left to :func:`lnra.run.rundir.choose_sweep_dir`."""
    problem = read_problem(folder, "folder")
    if problem:
        return f"run directory {problem}"
    if (folder / RESULTS).exists():
        return f"that run finished ({RESULTS} exists); there is nothing to resume"
    if newest_checkpoint(folder) is not None or any((folder / name).is_file() for name in SWEEP_FILES):
        return None
    last = folder / LAST_CHECKPOINT
    state = "damaged (cut off?)" if last.is_file() else "missing"
    return f"no checkpoint to continue from ({last} is {state})"
