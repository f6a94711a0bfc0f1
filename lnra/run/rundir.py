"""Run and sweep folders, never shared nor another run's (an exclusive ``mkdir`` once the config was checked),
what they hold, the resolvers that name them, continuing an interrupted run in its own folder from a
checkpoint that holds everything to go on as if never stopped (random generators included), and what a
stopped run says and removes (docs/guide.md, Interrupted runs)."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import signal
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from itertools import count
from pathlib import Path
from types import FrameType
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from lnra.diskio import creatable, new_folder, read_problem
from lnra.errors import LnraError

log = logging.getLogger(__name__)

SWEEP_ENV = "LNRA_SWEEP_DIR"
_FREE = ("resume=", "hydra/launcher=", "hydra.launcher.")  # may differ between a sweep and its resume

_resumed: set[str] = set()
_created: dict[str, Path] = {}

# what a run's folder holds: read the same way by the relations, the run and sweep folders and resuming
RESULTS = "results.json"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
RUN_OUTPUTS = (RESULTS, "scores.csv", "checkpoints")
SLURM_MARKER = ".slurm_job_id"  # a SLURM job's run: found again when the job is requeued
SWEEP_RECORD = "sweep.json"
SWEEP_FILES = (SWEEP_RECORD, "multirun.yaml")  # what makes a folder a sweep's (Hydra writes multirun.yaml)


def resume_folder(resume: Any) -> Path | None:
    """The run (or sweep) folder ``resume=`` names, or None when it is true, false or empty."""
    named = isinstance(resume, str) and resume.strip().lower() not in ("true", "false", "")
    return Path(resume).expanduser() if named else None


def outputs_in(folder: Path) -> list[str]:
    """The run outputs ``folder`` holds: ``results.json``, ``scores.csv``, a folder with a checkpoint."""
    return [name for name in RUN_OUTPUTS if (folder / name).is_file() or any((folder / name).glob("*.ckpt"))]


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The newer complete one of ``last.ckpt`` and a SLURM ``hpc_ckpt``: a resume never picks (and writes
    into) a run it cannot continue."""
    candidates = [run_dir / LAST_CHECKPOINT, *run_dir.glob("hpc_ckpt_*.ckpt")]
    # torch.save writes a zip archive, whose directory is at the end: a cut-off file has none
    existing = [p for p in candidates if p.is_file() and zipfile.is_zipfile(p)]
    return max(existing, key=lambda p: p.stat().st_mtime_ns) if existing else None


def is_interrupted(run_dir: Path) -> bool:
    return run_dir.is_dir() and not (run_dir / RESULTS).exists() and newest_checkpoint(run_dir) is not None


def resume_problem(folder: Path) -> str | None:
    """Why the run folder ``resume=`` names cannot be continued; None if it can, or if it is a sweep's."""
    if problem := read_problem(folder, "folder"):
        return f"run directory {problem}"
    if (folder / RESULTS).exists():
        return f"that run finished ({RESULTS} exists); there is nothing to resume"
    if newest_checkpoint(folder) is not None or any((folder / name).is_file() for name in SWEEP_FILES):
        return None
    last = folder / LAST_CHECKPOINT
    state = "damaged (cut off?)" if last.is_file() else "missing"
    return f"no checkpoint to continue from ({last} is {state})"


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


@cache
def unique_dir(base: str) -> str:
    """Create and return ``base``, or ``base-1``, ``base-2``, … if it is already taken (once per process)."""
    Path(base).parent.mkdir(parents=True, exist_ok=True)
    for n in count():
        candidate = f"{base}-{n}" if n else base
        with suppress(FileExistsError):
            os.mkdir(candidate)
            return candidate


@cache
def run_dir(runs: str, stamp: str, run_name: str, resume: Any, ckpt_path: Any) -> str:
    """``hydra.run.dir``: the interrupted run a command continues, else ``<runs>/<stamp>_<run_name>``."""
    found = find_run_to_resume(Path(runs), run_name, resume, ckpt_path)
    if found is not None:
        _resumed.add(os.path.abspath(found))
    return str(found or f"{runs}/{stamp}_{run_name}")


def claim_run_dir(cfg: DictConfig) -> Path:
    """Create the folder ``cfg.hydra.run.dir`` names as the run starts (a SLURM job marks it as its own); an
    explicit one unwritable or holding another run's outputs is refused unless resumed (``resume=D``)."""
    explicit = "lnra_run_dir" not in str(OmegaConf.to_container(cfg.hydra.run, resolve=False).get("dir"))
    chosen = str(cfg.hydra.run.dir)
    resumed = resume_folder(cfg.get("resume"))
    if explicit and resumed is not None and resumed.resolve() == Path(chosen).resolve():
        _resumed.add(os.path.abspath(chosen))  # hydra.run.dir=D resume=D: that very run, continued
    if os.path.abspath(chosen) in _resumed:
        return Path(chosen)
    try:
        if explicit:
            problem = creatable(chosen)
            if not problem and (taken := outputs_in(Path(chosen))):
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
    if job := os.environ.get("SLURM_JOB_ID"):
        Path(chosen, SLURM_MARKER).write_text(job)
    return Path(chosen)


def stopped_line(signum: int, run_dir: Path, argv: Sequence[str], max_epochs: object, removed: bool) -> str:
    """The one line a stopped run ends with: the signal, what was saved, the command to paste that goes on."""
    name = signal.Signals(signum).name
    saved = newest_checkpoint(run_dir)
    kept = [a for a in argv[1:] if a.lstrip("+~").split("=", 1)[0] != "resume" and a != "ckpt_path=last"]
    if saved is None:
        return (f"stopped by {name}: nothing saved yet (no validation finished)"
                f"{', run directory removed' if removed else ''}; start again with: "
                f"{shlex.join(['python', argv[0], *kept])}")
    from lnra.run.checkpoints import read_weights  # here: torch, which `run.py --help` does not need

    epoch = read_weights(saved).epoch
    done = f"epoch {epoch + 1} of {max_epochs}" if isinstance(epoch, int) else "its last validation"
    return (f"stopped by {name}: saved {saved} ({done}, after its validation); continue with: "
            f"{shlex.join(['python', argv[0], *kept, f'resume={run_dir}'])}")


@contextmanager
def stops_said(run_dir: Path, argv: Sequence[str], max_epochs: object) -> Iterator[None]:
    """The block with SIGINT and SIGTERM raising ``KeyboardInterrupt``; a stop prints its line and exits with
    128 + the signal, as a shell would. Nothing saved: the run directory this process made is removed."""
    received: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        received.append(signum)  # raised where the run is: Lightning shuts down for both as for Ctrl-C
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except (LnraError, KeyboardInterrupt, SystemExit) as err:  # Lightning ends an interrupt in sys.exit(1)
        stopped = received[0] if received else signal.SIGINT if isinstance(err, KeyboardInterrupt) else None
        if stopped is None and not isinstance(err, LnraError):
            raise
        made = _created.get(os.path.abspath(run_dir))
        removed = made is not None and not outputs_in(run_dir)
        if removed:
            shutil.rmtree(made, ignore_errors=True)
        if stopped is None:
            raise
        print(stopped_line(stopped, run_dir, argv, max_epochs, removed), file=sys.stderr)
        raise SystemExit(128 + stopped) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def sweep_dir_problem(cfg: DictConfig) -> str | None:
    """Why an explicit ``hydra.sweep.dir=D`` cannot be written, or holds another sweep not being resumed."""
    if "lnra_sweep_dir" in str(OmegaConf.to_container(cfg.hydra.sweep, resolve=False).get("dir")):
        return None
    chosen = str(cfg.hydra.sweep.dir)
    if problem := creatable(chosen):
        return f"hydra.sweep.dir={chosen}: {problem}"
    folder = Path(chosen)
    taken = sorted({name for job in folder.glob("*/") for name in outputs_in(job)}
                   | {name for name in SWEEP_FILES if (folder / name).exists()})
    if taken and not cfg.get("resume"):
        return (f"hydra.sweep.dir={chosen}: holds another sweep's outputs ({', '.join(taken)}); continue "
                f"that sweep with resume={chosen}, or give another folder")
    return None


@cache
def config_subdir(run_dir_path: str) -> str:
    """``hydra.output_subdir``: ``.hydra``, or ``.hydra/resume-<time>`` beside a run's config (once a run)."""
    path = os.path.abspath(run_dir_path)
    if path not in _resumed and not Path(path, ".hydra", "config.yaml").is_file():
        return ".hydra"
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    return os.path.relpath(unique_dir(f"{path}/.hydra/resume-{stamp}"), path)


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
        except (OSError, ValueError, AttributeError):  # unreadable, or not the mapping a sweep writes
            continue
        if recorded is not None and command_key(recorded) == key:
            matches.append(record.parent)
    return max(matches, key=lambda p: (p / SWEEP_RECORD).stat().st_mtime_ns) if matches else None


def choose_sweep_dir(multiruns: str, stamp: str, resume: Any, overrides: Iterable[str]) -> str:
    """``hydra.sweep.dir``: the resumed sweep's folder, else a new one; pinned in ``LNRA_SWEEP_DIR`` so that a
    job resolving it in another process (a SLURM job, minutes later) lands in the same folder."""
    if pinned := os.environ.get(SWEEP_ENV):
        return pinned
    overrides = list(map(str, overrides))
    if (folder := resume_folder(resume)) is not None:
        folder = folder.resolve()
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
