"""``hydra/launcher=ray`` on this CPU machine: real ``debug=sweep`` sweeps of ``run.py`` whose jobs are Ray
tasks with one GPU each, on two GPUs declared to Ray (``hydra.launcher.ray.init.num_gpus=2``; Ray hands
them out as ``CUDA_VISIBLE_DEVICES`` although none exists). Ray is in the ``dev`` extra: these run in CI."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import hydra_plugins.hydra_ray_launcher  # noqa: F401  (missing: `pip install -e ".[dev]"`; fail, not skip)
import pytest
import ray._private.utils
from helpers.job_probe import HOLD_ENV, PAIR_ENV
from helpers.paths import REPO
from helpers.runner import child_env

from lnra.data.synthetic import SyntheticSpec, generate_synthetic
from lnra.errors import LnraError
from lnra.run.ray_share import cpus_per_gpu
from lnra.tools.report import build_report

JOBS = ["0_ped2_none_seed0", "1_ped2_skip_frame_seed0", "2_avenue_none_seed0", "3_avenue_skip_frame_seed0"]
SWEEP = ["experiment=table1", "dataset=ped2,avenue", "pseudo=none,skip_frame", "debug=sweep",
         "trainer.max_epochs=2", "model.net.widths=[8,8,8,8]", "callbacks.pictures.timelines=false",
         "+callbacks.probe={_target_:helpers.job_probe.JobProbe}",
         "hydra/launcher=ray", "hydra.launcher.ray.init.num_gpus=2"]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A Ray worker imports this worktree's lnra and the probe (``helpers``) through ``PYTHONPATH``."""
    return child_env({"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), **(extra or {})})


def _command(root: Path, data: Path, *overrides: str, cache: Path | None = None) -> list[str]:
    """``python run.py -m`` writing into ``root``, reading the videos in ``data`` and their frame cache in
    ``cache`` (default: shared by the sweeps of this module, in ``data``)."""
    return [sys.executable, str(REPO / "run.py"), "-m", f"paths.root_dir={root}",
            f"paths.output_dir={root}/out", f"paths.data_dir={data}", f"paths.generated_dir={data}",
            f"paths.cache_dir={cache or data / 'cache'}", *overrides]


def _sweep_dir(root: Path) -> Path:
    (sweep,) = (root / "out" / "multiruns").iterdir()
    return sweep


def _results(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/results.json")}


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and not stat.read_text().split(") ")[-1].startswith("Z")  # a zombie has ended


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ped2 and Avenue as tiny generated sets (= debug=sweep), made before any sweep so that two parallel
    jobs never generate one folder; their frame caches are built by the first sweep."""
    folder = tmp_path_factory.mktemp("data")
    spec = SyntheticSpec(seed=0, size=32, train_videos=2, test_videos=2, frames_per_video=32)
    for name in ("ped2", "avenue"):
        generate_synthetic(folder / name, spec)
    return folder


@pytest.fixture(scope="module")
def reference(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The 4-job sweep run to its end (each job training while another one does): its folder and console."""
    root = tmp_path_factory.mktemp("reference")
    t0 = time.monotonic()
    proc = subprocess.run(_command(root, data, *SWEEP), env=_env({PAIR_ENV: "1"}), capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    print(f"\n4-job ray sweep on 2 declared GPUs: {time.monotonic() - t0:.1f} s")
    return _sweep_dir(root), proc.stdout + proc.stderr


def test_ray_runs_two_jobs_at_a_time_each_on_its_own_gpu(reference: tuple[Path, str]) -> None:
    sweep, console = reference
    assert sorted(_results(sweep)) == JOBS
    probes = [json.loads((sweep / job / "probe.json").read_text()) for job in JOBS]
    assert len({p["pid"] for p in probes}) == 4 and os.getpid() not in {p["pid"] for p in probes}
    assert {p["device"] for p in probes} == {"0", "1"}
    overlapping = [(a, b) for i, a in enumerate(probes) for b in probes[i + 1:]
                   if a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, "no two jobs trained at the same time"
    assert all(a["device"] != b["device"] for a, b in overlapping), "two jobs at once on one GPU"
    at_once = max(sum(p["start"] <= q["start"] < p["end"] for p in probes) for q in probes)
    assert at_once == 2, f"{at_once} jobs trained at once on 2 GPUs"
    # two jobs started together on a cold cache: each split was built once, by one job; the other waited
    logs = "".join((sweep / job / "run.log").read_text() for job in JOBS)
    built = re.findall(r"building the frame cache \S+/(\w+?)_\d+x\d+_", logs)
    assert sorted(built) == ["avenue_testing", "avenue_training", "ped2_testing", "ped2_training"]
    assert f"Ray Launcher is launching 4 jobs, sweep output dir: {sweep}" in console


def test_an_interrupted_ray_sweep_resumes_to_the_same_four_results(reference: tuple[Path, str], data: Path,
                                                                   tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the sweep) while the two jobs that waited for a GPU are mid-training (Ray picks
    which: it need not start its tasks in order), then the same command with resume=true: the two finished
    jobs are skipped, the held ones continue from their last.ckpt, and every result equals the
    uninterrupted sweep's (same losses and AUC: a resumed run equals an uninterrupted one)."""
    multiruns = tmp_path / "out" / "multiruns"
    with open(tmp_path / "interrupted.log", "w") as log:
        proc = subprocess.Popen(_command(tmp_path, data, *SWEEP), env=_env({HOLD_ENV: "2"}),
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while len(list(multiruns.glob("*/*/held"))) < 2:
            assert proc.poll() is None, (tmp_path / "interrupted.log").read_text()[-5000:]
            assert time.monotonic() < deadline, "the sweep did not reach its third and fourth jobs"
            time.sleep(0.1)
        sweep = _sweep_dir(tmp_path)
        held = sorted(marker.parent.name for marker in sweep.glob("*/held"))
        done = sorted(set(JOBS) - set(held))
        pids = [json.loads((sweep / job / "probe.json").read_text())["pid"] for job in held]
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode != 0
    assert took < 20, f"the sweep took {took:.1f} s to stop"
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "a job outlived the sweep"
    assert sorted(_results(sweep)) == done, (tmp_path / "interrupted.log").read_text()[-5000:]
    assert all((sweep / job / "checkpoints" / "last.ckpt").is_file() for job in held)
    finished = [sweep / job / "results.json" for job in done]
    mtimes = [f.stat().st_mtime_ns for f in finished]

    resumed = subprocess.run(_command(tmp_path, data, *SWEEP, "resume=true"), env=_env(),
                             capture_output=True, text=True, timeout=600, check=False)
    said = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, said[-5000:]
    assert _sweep_dir(tmp_path) == sweep, "resuming made a new sweep folder"
    assert f"resuming the sweep in {sweep}" in said
    for job in done:
        assert re.search(rf"done before: {re.escape(str(sweep / job))} \(AUC [\d.]+%", said)
    assert [f.stat().st_mtime_ns for f in finished] == mtimes, "a finished job ran again"
    for job in held:
        last = sweep / job / "checkpoints" / "last.ckpt"
        assert f"Restored all states from the checkpoint at {last}" in (sweep / job / "run.log").read_text()
    expected, results = _results(reference[0]), _results(sweep)
    assert sorted(results) == JOBS
    for job in JOBS:
        assert (results[job]["auc_micro"], results[job]["history"]) == (
            expected[job]["auc_micro"], expected[job]["history"]), job
    print(f"\nCtrl-C stopped the ray sweep in {took:.1f} s")


def test_a_failing_job_does_not_stop_the_others(data: Path, tmp_path: Path) -> None:
    """One declared GPU, so the jobs run one after the other: job 0 fails its input check (no CIFAR-100),
    and job 1 still runs after it. The sweep fails at the end, naming the error; the report lists job 0.
    A Ray address left in the environment (as a `ray start` cluster leaves one in Ray's temp folder) is
    not joined: the sweep starts its own Ray (address: local)."""
    cells = ["experiment=table1", "dataset=ped2", "pseudo=cifar_smoothmix,none", "debug=sweep",
             "model.net.widths=[8,8,8,8]", "callbacks.pictures.timelines=false",
             f"paths.intruder_dir={tmp_path}/none",
             "hydra/launcher=ray", "hydra.launcher.ray.init.num_gpus=1"]
    proc = subprocess.run(_command(tmp_path, data, *cells, cache=tmp_path / "cache"),
                          env=_env({"RAY_ADDRESS": "127.0.0.1:9"}),
                          capture_output=True, text=True, timeout=600, check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 1, said[-5000:]
    assert re.search(r"Error executing job with overrides: \[.*'pseudo=cifar_smoothmix'", said)
    assert re.search(r"LnraError: .*cifar", said, re.IGNORECASE), said[-5000:]
    sweep = _sweep_dir(tmp_path)
    assert sorted(_results(sweep)) == ["1_ped2_none_seed0"]
    assert "error:" in (sweep / "0_ped2_cifar_smoothmix_seed0" / "run.log").read_text()
    report = (build_report(sweep) / "report.md").read_text()
    assert "1 finished run(s), 1 job(s) without results" in report
    assert "| 0_ped2_cifar_smoothmix_seed0 |" in report.split("without results (failed or unfinished)")[1]


def test_each_job_asks_for_the_cpus_of_one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cpus_per_gpu(16, 2) == 8 and cpus_per_gpu(3, 2) == 1 and cpus_per_gpu(2, 4) == 0.5
    assert cpus_per_gpu(2, 3) == 0.66  # below one CPU Ray takes fractions; rounded down, 3 fit in 2
    monkeypatch.setattr(ray._private.utils, "get_num_cpus", lambda: 12)
    assert cpus_per_gpu(None, 4) == 3
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(LnraError, match=r"this machine has no GPU: declare some with "
                                        r"hydra.launcher.ray.init.num_gpus=N"):
        cpus_per_gpu(None, None)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert cpus_per_gpu(None, None) == math.floor(12 / 3)
