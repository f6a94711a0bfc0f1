"""``hydra/launcher=gpu_pool``: run a sweep's jobs in parallel on one machine, each job on its own GPU.

Hydra's stock launchers run jobs one after another (basic) or in parallel without telling a job which
GPU is its own (joblib, submitit-local), so every parallel job would train on GPU 0. Here a pool of
slots, ``jobs_per_gpu`` per GPU, hands each job a free GPU when it starts; the job runs in a fresh
process whose ``CUDA_VISIBLE_DEVICES`` names only that GPU, so the run itself needs no device setting
and its memory is freed when it ends. A job that fails (an exception, ``sys.exit``, a process killed or
crashed) is recorded as failed with the last line it printed, its GPU goes to the next job, and the
others go on; what each job printed is in ``<job dir>/console.log``.

Each job process leads its own process group (with its data-loader workers). SIGINT (Ctrl-C) or
SIGTERM to the launcher stops the sweep: no further job starts, every running job gets SIGTERM (Lightning
stops at the next step; the run keeps its last checkpoint, so ``resume=true`` continues it) and, after
``stop_grace_s`` seconds or a second signal, SIGKILL for its whole group, so no process outlives the sweep.
With ``resume=true`` a job whose folder holds ``results.json`` is reported as done without a process.
"""

import contextlib
import logging
import os
import pickle
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import cloudpickle
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from lnra.run.sweep_resume import finished_auc

log = logging.getLogger(__name__)

GPU_COUNT_ENV = "LNRA_GPU_COUNT"
CONSOLE_LOG = "console.log"


class GpuPoolError(CompactHydraException):
    """A launcher setting that cannot work on this machine (Hydra prints it as one line)."""


@dataclass
class GpuPoolLauncherConf:
    _target_: str = "hydra_plugins.lnra_launcher.gpu_pool_launcher.GpuPoolLauncher"
    # How many GPUs to use: null = every GPU this process may see (CUDA_VISIBLE_DEVICES is respected).
    gpus: int | None = None
    # Jobs that share one GPU at a time (more than 1 only when one run leaves the GPU mostly idle).
    jobs_per_gpu: int = 1
    # Seconds stopped jobs (Ctrl-C / SIGTERM to the sweep) get to end before they are killed.
    stop_grace_s: float = 10.0


ConfigStore.instance().store(group="hydra/launcher", name="gpu_pool", node=GpuPoolLauncherConf,
                             provider="lnra")


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries.

    ``LNRA_GPU_COUNT=N`` replaces the detection with N devices ``0..N-1`` (to try the launcher on a
    machine without GPUs, where the jobs then simply run N at a time on the CPU).
    """
    forced = os.environ.get(GPU_COUNT_ENV)
    if forced is not None:
        if not forced.isdigit():
            raise GpuPoolError(f"{GPU_COUNT_ENV} must be a number of GPUs, got '{forced}'")
        return [str(i) for i in range(int(forced))]
    import torch

    count = torch.cuda.device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


def choose_gpus(requested: int | None, available: list[str]) -> list[str]:
    """The first ``requested`` GPUs (all when None), or a clear error when there are fewer."""
    if not available:
        raise GpuPoolError(
            "hydra/launcher=gpu_pool found no GPU (torch.cuda.device_count() is 0); use the default "
            f"launcher on a CPU machine, or set {GPU_COUNT_ENV}=N to run N jobs at a time anyway"
        )
    if requested is None:
        return available
    if requested < 1 or requested > len(available):
        raise GpuPoolError(
            f"hydra.launcher.gpus={requested} but this machine has {len(available)} GPU(s) "
            f"({', '.join(available)}); ask for 1..{len(available)} or leave it null for all"
        )
    return available[:requested]


def _job_process(device: str, payload: bytes, console: str, result: Connection) -> None:
    """A job process's main: its own process group, its GPU pinned before anything can initialise CUDA,
    then the job; the outcome goes back through ``result`` (nothing arrives when the process dies)."""
    os.setpgrp()
    os.environ["CUDA_VISIBLE_DEVICES"] = device
    try:
        outcome = _execute(payload, console)
    except BaseException as err:  # sys.exit and the like: _execute printed it into the console log
        outcome = (JobStatus.FAILED, RuntimeError(f"the job ended with {err!r}"))
    result.send(outcome)
    result.close()


def last_line(console: Path) -> str:
    """The last non-empty line a job printed (the usual place of its error), or a note that it is empty."""
    try:
        with open(console, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    return lines[-1] if lines else "(nothing printed)"


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _execute(payload: bytes, console: str) -> tuple[JobStatus, Any]:
    """Run one job in this (fresh) process, its stdout and stderr going to ``console``.

    Only the status and the return value travel back: the job's configs hold classes that Hydra's
    plug-in scan loaded outside ``sys.modules``, which pickle cannot name.
    """
    Path(console).parent.mkdir(parents=True, exist_ok=True)
    with open(console, "ab", buffering=0) as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    hydra_context, task_function, sweep_config, singleton_state = cloudpickle.loads(payload)
    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(sweep_config)
    try:
        ret = run_job(hydra_context=hydra_context, task_function=task_function, config=sweep_config,
                      job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
    except BaseException:  # sys.exit: the log says so before the job process goes
        traceback.print_exc()
        raise
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    value = ret._return_value
    if ret.status == JobStatus.FAILED:
        traceback.print_exception(value, file=sys.stderr)
        sys.stderr.flush()
    try:
        pickle.dumps(value)
    except Exception:  # an exception or a result that cannot travel: send its description
        value = RuntimeError(repr(value)) if ret.status == JobStatus.FAILED else repr(value)
    return ret.status, value


@dataclass
class _Job:
    idx: int
    overrides: list[str]
    config: DictConfig
    job_dir: Path


class GpuPoolLauncher(Launcher):
    """Hydra's launcher API over a pool of GPU slots; see the module docstring."""

    def __init__(self, gpus: int | None = None, jobs_per_gpu: int = 1, stop_grace_s: float = 10.0) -> None:
        super().__init__()
        if jobs_per_gpu < 1:
            raise GpuPoolError(f"hydra.launcher.jobs_per_gpu must be at least 1, got {jobs_per_gpu}")
        self.gpus, self.jobs_per_gpu, self.stop_grace_s = gpus, jobs_per_gpu, stop_grace_s
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None
        self._running: dict[int, BaseProcess] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_signal: int | None = None
        self._killer: threading.Timer | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def _compose_jobs(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[_Job]:
        """Every job's config, composed here so that a bad cell fails before any job starts.

        The sweep directory is resolved once, here, and written into each job's config: resolved again
        in a job process, ``${now:...}`` or a unique-folder resolver could name another directory.
        """
        assert self.config is not None and self.hydra_context is not None
        sweep_dir = str(self.config.hydra.sweep.dir)
        Path(sweep_dir).mkdir(parents=True, exist_ok=True)
        jobs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(config):
                config.hydra.job.id = idx
                config.hydra.job.num = idx
                config.hydra.sweep.dir = sweep_dir
            HydraConfig.instance().set_config(config)
            job_dir = Path(sweep_dir) / str(config.hydra.sweep.subdir)
            jobs.append(_Job(idx, list(overrides), config, job_dir))
        return jobs

    def _result(self, job: _Job, status: JobStatus, value: Any) -> JobReturn:
        return JobReturn(overrides=job.overrides, cfg=job.config, hydra_cfg=job.config,
                         working_dir=str(job.job_dir), task_name=str(job.config.hydra.job.name),
                         status=status, _return_value=value)

    def _run(self, job: _Job, slots: queue.Queue[str]) -> JobReturn:
        """Run ``job`` on the first free GPU, in a fresh process that sees only that GPU."""
        console = job.job_dir / CONSOLE_LOG
        if job.config.get("resume"):
            auc = finished_auc(job.job_dir)
            if auc is not None:
                log.info(f"\t#{job.idx} done before (AUC {100 * auc:.2f}%): {job.job_dir}")
                return self._result(job, JobStatus.COMPLETED, auc)
        payload = cloudpickle.dumps((self.hydra_context, self.task_function, job.config,
                                     Singleton.get_state()))
        device = slots.get()
        try:
            if self._stop.is_set():
                return self._result(job, JobStatus.FAILED,
                                    RuntimeError(f"job #{job.idx} not started: the sweep was stopped"))
            cell = " ".join(filter_overrides(job.overrides))
            log.info(f"\t#{job.idx} on GPU {device}: {cell}  ({console})")
            status, value = self._run_process(job, device, payload, console)
        finally:
            slots.put(device)
        return self._result(job, status, value)

    def _run_process(self, job: _Job, device: str, payload: bytes, console: Path) -> tuple[JobStatus, Any]:
        context = get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_job_process, args=(device, payload, str(console), send),
                                  name=f"lnra-job-{job.idx}")
        with self._lock:
            if self._stop.is_set():
                return JobStatus.FAILED, RuntimeError(f"job #{job.idx} not started: the sweep was stopped")
            process.start()
            self._running[job.idx] = process
        send.close()
        try:
            try:
                outcome = receive.recv()
            except EOFError:  # the process died without a word
                outcome = None
            process.join()
        finally:
            with self._lock:
                self._running.pop(job.idx, None)
            receive.close()
        if outcome is not None:
            return outcome
        how = _how_it_ended(process.exitcode)
        if self._stop.is_set():
            message = f"job #{job.idx} stopped ({how}) when the sweep was; resume=true continues it"
        else:
            message = f"job #{job.idx} died ({how}); last line of {console}: {last_line(console)}"
            log.error(message)
        return JobStatus.FAILED, RuntimeError(message)

    # -- stopping ---------------------------------------------------------------------------------
    def _signal_jobs(self, sig: int) -> None:
        """Send ``sig`` to every running job's process group (the job and its data-loader workers)."""
        with self._lock:
            processes = list(self._running.values())
        for process in processes:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:  # not yet its own group leader, or already gone
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, sig)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop.is_set():  # a second Ctrl-C: no more waiting
            log.warning("second signal: killing every job now")
            self._signal_jobs(signal.SIGKILL)
            return
        with self._lock:
            self._stop.set()
        self._stop_signal = signum
        log.warning(f"{signal.Signals(signum).name}: stopping the sweep; no new job starts, running jobs get "
                    f"SIGTERM (SIGKILL after {self.stop_grace_s:g} s); resume=true finishes the sweep later")
        self._signal_jobs(signal.SIGTERM)
        self._killer = threading.Timer(self.stop_grace_s, self._signal_jobs, (signal.SIGKILL,))
        self._killer.daemon = True
        self._killer.start()

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        devices = choose_gpus(self.gpus, visible_gpus())
        jobs = self._compose_jobs(job_overrides, initial_job_idx)
        slots: queue.Queue[str] = queue.Queue()
        for device in devices * self.jobs_per_gpu:
            slots.put(device)
        log.info(f"Launching {len(jobs)} jobs on GPU(s) {', '.join(devices)}, "
                 f"{self.jobs_per_gpu} job(s) per GPU at a time")
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            with ThreadPoolExecutor(max_workers=slots.qsize()) as pool:
                futures = [pool.submit(self._run, job, slots) for job in jobs]
                while wait(futures, timeout=0.5).not_done:  # short waits: signal handlers run promptly
                    pass
                results = [f.result() for f in futures]
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            if self._killer is not None:
                self._killer.cancel()
        if self._stop_signal is not None:
            stopped = [j.idx for j, r in zip(jobs, results, strict=True) if r.status != JobStatus.COMPLETED]
            log.error(f"sweep stopped by {signal.Signals(self._stop_signal).name}; jobs without results: "
                      f"{', '.join(f'#{i}' for i in stopped)}; run the same command with resume=true to "
                      "finish them")
            sys.exit(128 + self._stop_signal)
        for job, result in zip(jobs, results, strict=True):
            if result.status != JobStatus.COMPLETED:
                log.error(f"job #{job.idx} failed: {job.job_dir / CONSOLE_LOG}")
        return results
