"""Run directories that are never shared: two runs started in the same second get different folders.

Registered as the OmegaConf resolver ``lnra_unique`` and used for ``hydra.sweep.dir``. The folder is
created with an exclusive ``mkdir``, which is atomic, so concurrent runs cannot pick the same name.
``lnra_run_dir`` (``hydra.run.dir``) does the same unless the command resumes an interrupted run, which
then continues in its own folder (see :mod:`lnra.run.resume`), and ``lnra_sweep_dir`` (``hydra.sweep.dir``)
unless it resumes a sweep (see :mod:`lnra.run.sweep_resume`); ``lnra_config_subdir`` keeps a resumed run's
original ``.hydra`` files and saves the resuming command's next to them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from lnra.run.fresh_dir import unique_dir
from lnra.run.ray_share import cpus_per_gpu

_run_dirs: dict[str, str] = {}
_resumed: set[str] = set()
_config_subdirs: dict[str, str] = {}
_sweep_dirs: dict[str, str] = {}


def run_dir(runs: str, stamp: str, run_name: str, resume: Any = False, ckpt_path: Any = None) -> str:
    """``hydra.run.dir``: the interrupted run to continue when resuming (``resume``, ``ckpt_path=last`` or a
    requeued SLURM job finds one), else a new unique ``<runs>/<stamp>_<run_name>``."""
    key = f"{runs}|{stamp}|{run_name}|{resume}|{ckpt_path}"
    if key in _run_dirs:
        return _run_dirs[key]
    # Imported here, not at the top: lnra.run.resume loads torch, which `python run.py --help` does not need.
    from lnra.run.resume import SLURM_MARKER, find_run_to_resume, slurm_job_id

    found = find_run_to_resume(Path(runs), run_name, resume, ckpt_path)
    if found is not None:
        chosen = str(found)
        _resumed.add(os.path.abspath(chosen))
    else:
        chosen = unique_dir(f"{runs}/{stamp}_{run_name}")
        if slurm_job_id():
            Path(chosen, SLURM_MARKER).write_text(slurm_job_id())
    _run_dirs[key] = chosen
    return chosen


def config_subdir(run_dir_path: str) -> str:
    """``hydra.output_subdir``: ``.hydra``, or for a resumed run (or a job of a resumed sweep, whose folder
    already holds ``.hydra/config.yaml``) ``.hydra/resume-<time>`` so that the interrupted run's own
    config files are kept. Decided once per folder: the answer must not change once Hydra wrote there."""
    path = os.path.abspath(run_dir_path)
    if path not in _config_subdirs:
        if path in _resumed or Path(path, ".hydra", "config.yaml").is_file():
            stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
            _config_subdirs[path] = os.path.relpath(unique_dir(f"{path}/.hydra/resume-{stamp}"), path)
        else:
            _config_subdirs[path] = ".hydra"
    return _config_subdirs[path]


def sweep_dir(multiruns: str, stamp: str, resume: Any, overrides: Any) -> str:
    """``hydra.sweep.dir`` (see :func:`lnra.run.sweep_resume.choose_sweep_dir`), chosen once per process."""
    if multiruns not in _sweep_dirs:
        from lnra.run.sweep_resume import choose_sweep_dir

        _sweep_dirs[multiruns] = choose_sweep_dir(multiruns, stamp, resume, overrides)
    return _sweep_dirs[multiruns]


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("lnra_unique"):
        OmegaConf.register_new_resolver("lnra_unique", unique_dir, use_cache=True)
    if not OmegaConf.has_resolver("lnra_run_dir"):
        OmegaConf.register_new_resolver("lnra_run_dir", run_dir, use_cache=True)
    if not OmegaConf.has_resolver("lnra_sweep_dir"):
        OmegaConf.register_new_resolver("lnra_sweep_dir", sweep_dir, use_cache=True)
    if not OmegaConf.has_resolver("lnra_config_subdir"):
        OmegaConf.register_new_resolver("lnra_config_subdir", config_subdir, use_cache=True)
    if not OmegaConf.has_resolver("lnra_cpus_per_gpu"):
        OmegaConf.register_new_resolver("lnra_cpus_per_gpu", cpus_per_gpu)
