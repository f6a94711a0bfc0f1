"""``python run.py`` through the real Hydra entry point, on a tiny synthetic dataset."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, TINY_DATASET, tmp_paths


def run_py(tmp_path: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    env.pop("HYDRA_FULL_ERROR")
    proc = subprocess.run(
        [sys.executable, str(REPO / "run.py"), *tmp_paths(tmp_path), *overrides],
        capture_output=True, text=True, env=env, timeout=600,
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("e2e")
    proc = run_py(tmp, *TINY_DATASET, "trainer.max_epochs=2", "trainer.enable_progress_bar=false")
    return tmp, proc


def test_train_then_test_prints_auc_and_writes_results(trained_run):
    tmp, proc = trained_run
    auc = re.search(r"^AUC: (\d+\.\d\d)%", proc.stdout, re.M)
    run_dir = Path(re.search(r"^run directory: (.+)$", proc.stdout, re.M).group(1))
    assert auc and run_dir.parent == tmp / "outputs" / "runs"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["dataset"] == "synthetic" and results["pseudo"] == "none"
    assert results["epoch"] == 1 and [h["epoch"] for h in results["history"]] == [0, 1]
    assert 0.0 <= results["auc_micro"] <= 1.0 and np.isfinite(results["auc_micro_global"])
    assert float(auc.group(1)) == pytest.approx(100 * results["auc_micro"], abs=0.006)
    assert results["best_auc_micro"] == max(h["auc_micro"] for h in results["history"])
    # Two 32-frame test videos: 17 windows each score frames 8..24.
    assert results["n_frames"] == 34
    with open(run_dir / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 34 and rows[0]["video"] == "01" and rows[0]["frame"] == "8"
    assert {"psnr", "anomaly_score", "label"} <= rows[0].keys()
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert {p.name for p in (run_dir / "checkpoints").glob("*.ckpt")} >= {"last.ckpt", "best.ckpt"}
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_test_task_reproduces_the_auc_from_the_checkpoint(trained_run, tmp_path):
    tmp, proc = trained_run
    run_dir = Path(re.search(r"^run directory: (.+)$", proc.stdout, re.M).group(1))
    trained = json.loads((run_dir / "results.json").read_text())
    test = run_py(tmp, *TINY_DATASET, "task=test", f"ckpt_path={run_dir}/checkpoints/last.ckpt",
                  "trainer.enable_progress_bar=false")
    test_dir = Path(re.search(r"^run directory: (.+)$", test.stdout, re.M).group(1))
    assert test_dir != run_dir
    tested = json.loads((test_dir / "results.json").read_text())
    assert tested["auc_micro"] == pytest.approx(trained["auc_micro"], abs=1e-6)


def test_missing_dataset_is_one_line_naming_path_and_layout(tmp_path):
    proc = run_py(tmp_path, "dataset=ped2", f"paths.data_dir={tmp_path}/nowhere", check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and f"{tmp_path}/nowhere/ped2" in lines[-1]
    assert "training,testing}/frames/<video>/<frame>" in lines[-1]
    assert "Traceback" not in proc.stderr


def test_resolution_not_multiple_of_16_fails_at_start_up(tmp_path):
    proc = run_py(tmp_path, "dataset.height=50", check=False)
    assert proc.returncode != 0
    assert "error: frame size 50x48 is not a multiple of 16" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "synthetic").exists()  # failed before generating or caching data


def test_a_partial_evaluation_is_refused_not_scored(tmp_path):
    proc = run_py(tmp_path, *TINY_DATASET, "debug=fast", "+trainer.limit_val_batches=1", check=False)
    assert proc.returncode != 0
    assert "error: val scored 16 of the 34 test windows" in proc.stderr
    assert "remove trainer.limit_val_batches" in proc.stderr
