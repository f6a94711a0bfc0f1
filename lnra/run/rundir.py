"""Run directories that are never shared, and never another run's.

The resolver ``lnra_run_dir`` (``hydra.run.dir``) names the folder of a run: the interrupted run a command
resumes (see :mod:`lnra.run.resume`), or ``<runs>/<stamp>_<run_name>``. :func:`claim_run_dir` creates it
only when the run is about to start — after its config was checked — with an exclusive ``mkdir``, so two
runs started in the same second get different folders; a folder given explicitly that already holds a
run's outputs is refused instead of overwritten. ``lnra_sweep_dir`` (``hydra.sweep.dir``) makes a new sweep
folder unless a sweep is resumed (see :mod:`lnra.run.sweep_resume`); ``lnra_config_subdir`` keeps a resumed
run's original ``.hydra`` files and saves the resuming command's next to them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lnra.diskio import creatable, new_folder
from lnra.errors import LnraError
from lnra.run.fresh_dir import unique_dir
from lnra.run.ray_share import cpus_per_gpu
from lnra.run.run_folder import SWEEP_FILES, outputs_in, resume_folder

_run_dirs: dict[str, str] = {}
_resumed: set[str] = set()
_created: dict[str, Path] = {}
_config_subdirs: dict[str, str] = {}
_sweep_dirs: dict[str, str] = {}


def run_dir(runs: str, stamp: str, run_name: str, resume: Any = False, ckpt_path: Any = None) -> str:
    """``hydra.run.dir``: the interrupted run to continue when resuming (``resume``, ``ckpt_path=last`` or a
    requeued SLURM job finds one), else ``<runs>/<stamp>_<run_name>``. Nothing is created here."""
    key = f"{runs}|{stamp}|{run_name}|{resume}|{ckpt_path}"
    if key not in _run_dirs:
        # Imported here: lnra.run.resume loads torch, which `python run.py --help` does not need.
        from lnra.run.resume import find_run_to_resume

        found = find_run_to_resume(Path(runs), run_name, resume, ckpt_path)
        if found is not None:
            _resumed.add(os.path.abspath(found))
        _run_dirs[key] = str(found or f"{runs}/{stamp}_{run_name}")
    return _run_dirs[key]


def claim_run_dir(cfg: DictConfig) -> Path:
    """Create the folder ``cfg.hydra.run.dir`` names, now that the run starts, and return it.

    A resumed run continues in its own folder; the default name gets a ``-N`` suffix when another run took
    it in the same second; a folder given explicitly (``hydra.run.dir=D``) that cannot be written, or holds
    another run's outputs, is refused, since this run would fail there or overwrite them — unless the
    command resumes that very run (``resume=D``).
    """
    explicit = "lnra_run_dir" not in str(OmegaConf.to_container(cfg.hydra.run, resolve=False).get("dir"))
    chosen = str(cfg.hydra.run.dir)
    resumed = resume_folder(cfg.get("resume"))
    if explicit and resumed is not None and resumed.resolve() == Path(chosen).resolve():
        _resumed.add(os.path.abspath(chosen))  # hydra.run.dir=D resume=D: that very run, continued
    return claim(chosen, explicit)


def claim(chosen: str, explicit: bool) -> Path:
    """Create the run directory ``chosen`` (see :func:`claim_run_dir`); a SLURM job marks it as its own."""
    from lnra.run.resume import SLURM_MARKER, slurm_job_id

    if os.path.abspath(chosen) in _resumed:
        return Path(chosen)
    try:
        if explicit:
            problem = creatable(chosen)
            taken = [] if problem else outputs_in(Path(chosen))
            if taken:
                problem = (f"holds another run's outputs ({', '.join(taken)}); continue that run with "
                           f"resume={chosen}, or give another directory")
            if problem:
                raise LnraError(f"hydra.run.dir={chosen}: {problem}")
            new = new_folder(Path(chosen))
            Path(chosen).mkdir(parents=True, exist_ok=True)
        else:
            new = new_folder(Path(chosen).parent)
            chosen = unique_dir(chosen)
            new = new or Path(chosen).absolute()
    except OSError as err:
        raise LnraError(f"hydra.run.dir={chosen}: cannot create the run directory ({err.strerror or err})") \
            from None
    if new is not None:
        _created[os.path.abspath(chosen)] = new
    if slurm_job_id():
        Path(chosen, SLURM_MARKER).write_text(slurm_job_id())
    return Path(chosen)


def made_for(run_dir: Path) -> Path | None:
    """The folder this process created for the run in ``run_dir`` (the run directory, or the outermost of
    the folders made for it), or None: a resumed run's, or one that existed before."""
    return _created.get(os.path.abspath(run_dir))


def sweep_dir_problem(cfg: DictConfig) -> str | None:
    """What keeps a sweep from its folder given explicitly (``hydra.sweep.dir=D``): one that cannot be
    written, or holds another sweep's outputs — its jobs would continue or overwrite those — unless the
    command resumes (``resume=``); None for the folder lnra names itself."""
    if "lnra_sweep_dir" in str(OmegaConf.to_container(cfg.hydra.sweep, resolve=False).get("dir")):
        return None
    chosen = str(cfg.hydra.sweep.dir)
    problem = creatable(chosen)
    if problem:
        return f"hydra.sweep.dir={chosen}: {problem}"
    folder = Path(chosen)
    taken = sorted({name for job in folder.glob("*/") for name in outputs_in(job)}
                   | {name for name in SWEEP_FILES if (folder / name).exists()})
    if taken and not cfg.get("resume"):
        return (f"hydra.sweep.dir={chosen}: holds another sweep's outputs ({', '.join(taken)}); continue "
                f"that sweep with resume={chosen}, or give another folder")
    return None


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
    if not OmegaConf.has_resolver("lnra_run_dir"):
        OmegaConf.register_new_resolver("lnra_run_dir", run_dir, use_cache=True)
    if not OmegaConf.has_resolver("lnra_sweep_dir"):
        OmegaConf.register_new_resolver("lnra_sweep_dir", sweep_dir, use_cache=True)
    if not OmegaConf.has_resolver("lnra_config_subdir"):
        OmegaConf.register_new_resolver("lnra_config_subdir", config_subdir, use_cache=True)
    if not OmegaConf.has_resolver("lnra_cpus_per_gpu"):
        OmegaConf.register_new_resolver("lnra_cpus_per_gpu", cpus_per_gpu)
