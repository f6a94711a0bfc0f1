"""Run directories: never shared between runs, and found again when an interrupted run is resumed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.data import write_dataset
from helpers.paths import REPO, tmp_paths
from omegaconf import OmegaConf

from lnra.run.rundir import (
    SLURM_MARKER,
    claim_run_dir,
    config_subdir,
    find_run_to_resume,
    run_dir,
    unique_dir,
)


def _fake_run(runs: Path, name: str, *, ckpt: bool = True, finished: bool = False, mtime: float = 0) -> Path:
    path = runs / name
    (path / "checkpoints").mkdir(parents=True)
    if ckpt:
        torch.save({"epoch": 0}, path / "checkpoints" / "last.ckpt")
        if mtime:
            os.utime(path / "checkpoints" / "last.ckpt", (mtime, mtime))
    if finished:
        (path / "results.json").write_text("{}")
    return path


def test_concurrent_processes_get_different_directories(tmp_path):
    base = tmp_path / "runs" / "2026-01-01_00-00-00_synthetic_none"
    code = "import sys; from lnra.run.rundir import unique_dir; print(unique_dir(sys.argv[1]))"
    cmd = [sys.executable, "-c", code, str(base)]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True) for _ in range(6)]
    dirs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(dirs)) == 6 and all(Path(d).is_dir() for d in dirs)
    expected = [base.name, *(f"{base.name}-{k}" for k in range(1, 6))]
    assert sorted(Path(d).name for d in dirs) == sorted(expected)


@pytest.mark.slow  # two full `python run.py` start-ups: ~50 s on the shared 2-core machine
def test_two_runs_started_in_the_same_second_write_to_different_directories(tmp_path):
    """Through the real entry point, with the config's own ``hydra.run.dir`` resolver but the start time
    pinned to one second for both. Each run is a preview of the pseudo anomalies (a picture in its run
    directory, no training), so each ends right after Hydra made and used its directory."""
    data = tmp_path / "ds"
    write_dataset(data, train=[20], test=[20])
    np.save(data / "frame_labels_synthetic.npy", np.zeros((1, 20), dtype=np.int64))
    runs = tmp_path / "outputs" / "runs"
    resolver = f"lnra_run_dir:{runs},2026-01-01_00-00-00,${{run_name}},${{resume}},${{ckpt_path}}"
    pinned = f"hydra.run.dir='${{{resolver}}}'"
    cmd = [sys.executable, str(REPO / "run.py"), *tmp_paths(tmp_path), f"dataset.root={data}",
           "dataset.generate=null", "dataset.height=16", "dataset.width=16", "task=preview",
           "pseudo=skip_frame", pinned]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    dirs = sorted(p.name for p in runs.iterdir())
    assert dirs == ["2026-01-01_00-00-00_synthetic_skip_frame", "2026-01-01_00-00-00_synthetic_skip_frame-1"]
    assert all((runs / d / ".hydra" / "config.yaml").is_file() for d in dirs)


def test_resume_true_finds_the_newest_interrupted_run_of_the_same_name(tmp_path):
    runs = tmp_path / "runs"
    now = time.time()
    _fake_run(runs, "2026-01-01_00-00-00_synthetic_none", mtime=now - 100)
    newest = _fake_run(runs, "2026-01-01_00-00-00_synthetic_none-1", mtime=now - 10)
    _fake_run(runs, "2026-01-02_00-00-00_synthetic_none", finished=True, mtime=now)  # finished: not resumable
    _fake_run(runs, "2026-01-03_00-00-00_synthetic_none", ckpt=False)  # never checkpointed
    _fake_run(runs, "2026-01-04_00-00-00_synthetic_skip_frame", mtime=now)  # another run_name
    _fake_run(runs, "2026-01-04_00-00-00_xsynthetic_none", mtime=now)  # a name that only ends the same
    assert find_run_to_resume(runs, "synthetic_none", True, None) == newest
    assert find_run_to_resume(runs, "synthetic_none", False, "last") == newest
    assert find_run_to_resume(runs, "synthetic_none", False, None) is None
    assert find_run_to_resume(runs, "ped2_none", True, None) is None


def test_resume_a_named_directory_only_when_it_was_interrupted(tmp_path):
    runs = tmp_path / "runs"
    interrupted = _fake_run(runs, "a")
    finished = _fake_run(runs, "b", finished=True)
    assert find_run_to_resume(runs, "x", str(interrupted), None) == interrupted.resolve()
    assert find_run_to_resume(runs, "x", str(finished), None) is None
    assert find_run_to_resume(runs, "x", str(runs / "missing"), None) is None


def test_the_resolver_reuses_the_interrupted_directory_and_keeps_its_config(tmp_path):
    runs = tmp_path / "runs"
    interrupted = _fake_run(runs, "2026-01-01_00-00-00_synthetic_none")
    chosen = run_dir(str(runs), "2026-05-05_05-05-05", "synthetic_none", True, None)
    assert chosen == str(interrupted)
    assert sorted(p.name for p in runs.iterdir()) == [interrupted.name]  # nothing new was created
    subdir = config_subdir(chosen)
    assert re.fullmatch(r"\.hydra/resume-\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", subdir)
    assert config_subdir(chosen) == subdir  # resolved again: the same folder
    fresh = run_dir(str(runs), "2026-05-05_05-05-05", "ped2_none", False, None)
    assert Path(fresh).name == "2026-05-05_05-05-05_ped2_none" and config_subdir(fresh) == ".hydra"


def test_a_requeued_slurm_job_finds_the_run_it_started(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    first = run_dir(str(runs), "2026-01-01_00-00-00", "synthetic_none", False, None)
    assert not Path(first).exists()  # named when resolved, created when the run starts
    resolver = f"${{lnra_run_dir:{runs},2026-01-01_00-00-00,synthetic_none,false,null}}"  # as in conf/
    claim_run_dir(OmegaConf.create({"hydra": {"run": {"dir": resolver}}}))
    assert (Path(first) / SLURM_MARKER).read_text() == "777"
    other = _fake_run(runs, "2026-01-01_00-00-00_synthetic_none-9")  # another job's interrupted run
    (other / SLURM_MARKER).write_text("778")
    assert find_run_to_resume(runs, "synthetic_none", False, None) is None  # not requeued: a new run
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert find_run_to_resume(runs, "synthetic_none", False, None) is None  # no checkpoint yet: start anew
    (Path(first) / "checkpoints").mkdir()
    torch.save({"epoch": 0}, Path(first) / "checkpoints" / "last.ckpt")
    assert find_run_to_resume(runs, "synthetic_none", False, None) == Path(first)


def test_unique_dir_is_stable_within_a_process(tmp_path):
    base = str(tmp_path / "runs" / "x")
    assert unique_dir(base) == unique_dir(base) == base
