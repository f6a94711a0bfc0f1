"""Resuming a whole sweep: which folder a resumed sweep continues in, what each of its jobs does (skip,
continue, start), and a real ``debug=sweep`` sweep killed with SIGKILL and finished with ``resume=true``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from helpers.runner import child_env, run_py_command
from omegaconf import OmegaConf

from lnra.errors import LnraError
from lnra.run import rundir as rundir_mod
from lnra.run.rundir import (
    SWEEP_ENV,
    SWEEP_RECORD,
    checkpoint_to_resume,
    choose_sweep_dir,
    config_subdir,
    find_sweep,
    finished_cell,
)

COMMAND = ["experiment=table1", "dataset=ped2,avenue", "pseudo=none,skip_frame"]


@pytest.fixture(autouse=True)
def _no_pinned_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """``choose_sweep_dir`` pins its answer in the environment for job processes: start without it, and
    have monkeypatch remove it afterwards (setenv first, so that it restores the variable's absence)."""
    monkeypatch.setenv(SWEEP_ENV, "")
    monkeypatch.delenv(SWEEP_ENV)


def test_a_resumed_sweep_finds_the_newest_sweep_of_the_same_command(tmp_path: Path) -> None:
    multiruns = tmp_path / "multiruns"
    first = Path(choose_sweep_dir(str(multiruns), "2026-01-01_00-00-00", False, COMMAND))
    os.environ.pop(SWEEP_ENV)
    other = Path(choose_sweep_dir(str(multiruns), "2026-01-01_00-00-01", False, [*COMMAND, "seed=1"]))
    os.environ.pop(SWEEP_ENV)
    second = Path(choose_sweep_dir(str(multiruns), "2026-01-01_00-00-02", False, COMMAND))
    os.environ.pop(SWEEP_ENV)
    assert json.loads((first / SWEEP_RECORD).read_text()) == {"overrides": COMMAND}
    assert len({first, other, second}) == 3
    # resume=, the launcher and its settings may change; the cells may not
    resumed = [*COMMAND, "resume=true", "hydra/launcher=ray", "hydra.launcher.ray.init.num_gpus=2"]
    assert find_sweep(multiruns, resumed) == second
    assert choose_sweep_dir(str(multiruns), "2026-01-02_00-00-00", True, resumed) == str(second)
    assert os.environ[SWEEP_ENV] == str(second)  # a job process resolving the folder again gets this one
    assert choose_sweep_dir(str(multiruns), "2026-01-03_00-00-00", False, ["x=1"]) == str(second)
    os.environ.pop(SWEEP_ENV)
    assert choose_sweep_dir(str(multiruns), "t", str(first), ["whatever=1"]) == str(first)
    os.environ.pop(SWEEP_ENV)
    with pytest.raises(LnraError, match="resume: no sweep of this command in .* dataset=ped2 pseudo=none"):
        choose_sweep_dir(str(multiruns), "t", True, ["dataset=ped2", "pseudo=none"])
    with pytest.raises(LnraError, match="not a sweep folder"):
        choose_sweep_dir(str(multiruns), "t", str(tmp_path), COMMAND)
    assert sorted(p.name for p in multiruns.iterdir()) == [first.name, other.name, second.name]
    (multiruns / "stray").mkdir()
    (multiruns / "stray" / SWEEP_RECORD).write_text("[1, 2]")  # JSON, but not a sweep's record: passed over
    assert find_sweep(multiruns, resumed) == second


def _job_dir(root: Path, *, ckpt: bool = False, results: bool = False) -> Path:
    (root / ".hydra").mkdir(parents=True)
    (root / ".hydra" / "config.yaml").write_text("seed: 0\n")
    if ckpt:
        (root / "checkpoints").mkdir()
        torch.save({"epoch": 0}, root / "checkpoints" / "last.ckpt")
    if results:
        (root / "results.json").write_text(json.dumps({"auc_micro": 0.75}))
    return root


def test_each_job_of_a_resumed_sweep_skips_continues_or_starts(tmp_path: Path, monkeypatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    cfg = OmegaConf.create({"resume": True, "ckpt_path": None, "run_name": "ped2_none"})
    done = _job_dir(tmp_path / "0_ped2_none_seed0", ckpt=True, results=True)
    interrupted = _job_dir(tmp_path / "1_ped2_skip_frame_seed0", ckpt=True)
    never = tmp_path / "2_avenue_none_seed0"
    never.mkdir()
    monkeypatch.setattr(rundir_mod, "in_sweep", lambda: True)

    assert finished_cell(cfg, done) == 0.75
    assert f"done before: {done} (AUC 75.00%, results.json); skipped" in capsys.readouterr().out
    assert finished_cell(cfg, interrupted) is None and finished_cell(cfg, never) is None
    assert checkpoint_to_resume(cfg, interrupted) == interrupted / "checkpoints" / "last.ckpt"
    assert checkpoint_to_resume(cfg, never) is None  # starts from the beginning
    assert finished_cell(OmegaConf.create({"resume": False}), done) is None  # a new sweep never skips

    monkeypatch.setattr(rundir_mod, "in_sweep", lambda: False)  # a single run: nothing to resume is an error
    with pytest.raises(LnraError, match="no interrupted run"):
        checkpoint_to_resume(cfg, never)
    # the resumed job keeps the interrupted job's .hydra/config.yaml and saves its own beside it
    assert config_subdir(str(interrupted)).startswith(".hydra/resume-")
    assert config_subdir(str(never)) == ".hydra"


# -- a real sweep, killed and resumed ------------------------------------------------------------------
SWEEP = [*COMMAND, "debug=sweep", "trainer.max_epochs=5", "model.net.widths=[8,8,8,8]"]


def _sweep_command(tmp: Path, *extra: str) -> list[str]:
    return run_py_command(tmp, f"paths.data_dir={tmp}/data", *SWEEP, *extra, multirun=True)


def _cells(sweep: Path) -> set[tuple[str, str, str]]:
    """(job folder, dataset, pseudo) of every finished job."""
    return {(p.parent.name, r["dataset"], r["pseudo"])
            for p in sweep.glob("*/results.json") for r in [json.loads(p.read_text())]}


@pytest.mark.slow  # three sweeps of four tiny cells: 3-7 minutes on the shared 2-core machine
def test_a_killed_sweep_resumes_in_its_folder_without_retraining_finished_jobs(tmp_path: Path) -> None:
    from lnra.data.synthetic import SyntheticSpec, generate_synthetic
    from lnra.tools.report import build_report

    spec = SyntheticSpec(seed=0, size=32, train_videos=2, test_videos=2, frames_per_video=32)
    for tmp in (tmp_path / "reference", tmp_path / "killed"):
        for name in ("ped2", "avenue"):
            generate_synthetic(tmp / "data" / name, spec)
    reference = subprocess.run(_sweep_command(tmp_path / "reference"), env=child_env(), capture_output=True,
                               text=True, timeout=900, check=False)
    assert reference.returncode == 0, reference.stderr[-3000:]
    (reference_sweep,) = (tmp_path / "reference" / "outputs" / "multiruns").iterdir()

    tmp = tmp_path / "killed"
    multiruns = tmp / "outputs" / "multiruns"
    t0 = time.monotonic()
    with open(tmp / "killed.log", "w") as log:
        proc = subprocess.Popen(_sweep_command(tmp), env=child_env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group, as a shell job is
    try:
        deadline = time.monotonic() + 600
        while not (list(multiruns.glob("*/0_*/results.json"))
                   and list(multiruns.glob("*/1_*/checkpoints/last.ckpt"))):
            assert proc.poll() is None, (tmp / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and everything it started
        t_kill = time.monotonic() - t0
    finally:
        proc.kill()
        proc.wait()
    (sweep,) = multiruns.iterdir()
    assert not list(sweep.glob("1_*/results.json")), "job 1 finished before the kill"
    done_files = [sweep / "0_ped2_none_seed0" / f
                  for f in ("results.json", "checkpoints/last.ckpt", "scores.csv")]
    mtimes = {f: f.stat().st_mtime_ns for f in done_files}

    t1 = time.monotonic()
    resumed = subprocess.run(_sweep_command(tmp, "resume=true", "hydra/launcher=ray",
                                            "hydra.launcher.ray.init.num_gpus=1"),
                             env=child_env(), capture_output=True, text=True, timeout=900, check=False)
    t_resume = time.monotonic() - t1
    said = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, said[-3000:]
    assert [p.name for p in multiruns.iterdir()] == [sweep.name], "resuming made a new sweep folder"
    assert f"resuming the sweep in {sweep}" in said
    assert re.search(rf"done before: {re.escape(str(sweep))}/0_ped2_none_seed0 \(AUC [\d.]+%", said)
    assert {f: f.stat().st_mtime_ns for f in done_files} == mtimes, "a finished job was retrained"
    job1 = (sweep / "1_ped2_skip_frame_seed0" / "run.log").read_text()  # the job's full log
    assert "Restored all states from the checkpoint" in job1  # continued, not restarted
    assert _cells(sweep) == _cells(reference_sweep)
    assert len(_cells(sweep)) == 4
    report = (build_report(sweep) / "report.md").read_text()
    assert "4 finished run(s), 0 job(s) without results" in report
    print(f"\nsweep resume: killed at {t_kill:.1f} s (job 0 done, job 1 mid-training), resumed and "
          f"finished in {t_resume:.1f} s")
