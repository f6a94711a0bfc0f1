"""Running the real ``python run.py`` in a child process, as a user would, from any test folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from helpers.paths import REPO, tmp_paths
from lnra.run.rundir import SWEEP_ENV


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment without what would change how a child run reports or where it goes:
    ``HYDRA_FULL_ERROR`` (errors stay one line), ``SLURM_*`` (a test inside a SLURM job is not a SLURM
    run) and a pinned sweep folder; one OpenMP thread, since the test machine is shared and one thread is
    also the fastest for tiny convolutions."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HYDRA_FULL_ERROR", SWEEP_ENV) and not k.startswith("SLURM_")}
    return {**env, "OMP_NUM_THREADS": "1", **(extra or {})}


def run_py_command(tmp_path: Path, *overrides: str, multirun: bool = False) -> list[str]:
    """``python run.py [-m] <overrides>`` with every file the run writes inside ``tmp_path``."""
    return [sys.executable, str(REPO / "run.py"), *(["-m"] if multirun else []), *tmp_paths(tmp_path),
            *overrides]


def run_py(tmp_path: Path, *overrides: str, check: bool = True, multirun: bool = False,
           env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``run.py`` to the end, capturing its output; with ``check`` a failure shows its stderr."""
    proc = subprocess.run(run_py_command(tmp_path, *overrides, multirun=multirun), cwd=REPO,
                          capture_output=True, text=True, env=env or child_env(), timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


class FinishedRun(NamedTuple):
    proc: subprocess.CompletedProcess[str]
    run_dir: Path


def run_dir_of(proc: subprocess.CompletedProcess[str]) -> Path:
    """The run directory a successful single run printed once (on rank 0 only, under DDP)."""
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("run directory: ")]
    assert len(lines) == 1, proc.stdout
    return Path(lines[0].removeprefix("run directory: "))
