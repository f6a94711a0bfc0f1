"""``python run.py`` through the real Hydra entry point, on a tiny synthetic dataset."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers.paths import TINY_DATASET
from helpers.runner import run_dir_of, run_py


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
    assert "error: dataset.height=50: must be a positive multiple of 16 (e.g. 256)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "synthetic").exists()  # failed before generating or caching data


def test_a_partial_evaluation_is_refused_not_scored(tmp_path):
    proc = run_py(tmp_path, *TINY_DATASET, "debug=fast", "++trainer.limit_val_batches=1", check=False)
    assert proc.returncode == 2
    assert "error: trainer.limit_val_batches=1: would score only part of the test set" in proc.stderr
    assert "remove trainer.limit_val_batches" in proc.stderr
    assert "model:" not in proc.stdout  # refused before anything was built, not after an epoch


def test_the_console_says_each_thing_once(trained_run):
    """What the run is, the model, progress lines (stdout is a pipe), each epoch's AUC and the result —
    each once; Lightning's device lines only in run.log; no advertisement, FLOPs or repeated warning."""
    _, proc = trained_run
    out = proc.stdout
    assert out.count("training 2 epochs: dataset synthetic, pseudo none, 32x32, precision ") == 1
    assert out.count("model: Autoencoder3D, 6.0 M parameters") == 1
    assert re.search(r"epoch 1/2  step \d+/\d+  [\d.]+ clips/s  loss [\d.]+, ETA epoch \d+:\d\d, run ", out)
    assert len(re.findall(r"epoch (\d)/2  val AUC \d+\.\d\d%", out)) == 2
    assert out.count("AUC: ") == 1 and "\r" not in out
    for noise in ("litlogger", "Total Flops", "LeafSpec", "GPU available"):
        assert noise not in out + proc.stderr, noise
    log = (run_dir_of(proc) / "run.log").read_text()
    assert log.count("GPU available") == 1 and log.count("val AUC") == 2 and "litlogger" not in log


def test_summary_md_tells_the_run(trained_run):
    _, proc = trained_run
    run_dir = run_dir_of(proc)
    results = json.loads((run_dir / "results.json").read_text())
    summary = (run_dir / "summary.md").read_text()
    assert "| Command | `python run.py " in summary and "trainer.max_epochs=2" in summary
    assert "| Dataset | synthetic at 32x32" in summary and "| Variant (pseudo anomalies) | none |" in summary
    assert "| Epochs | 2 of 2 |" in summary and re.search(r"\| Training speed \| [\d.]+ clips/s", summary)
    assert f"**{100 * results['auc_micro']:.2f}%**" in summary
    best = max(results["history"], key=lambda h: h["auc_micro"])
    assert f"| Best validation AUC | {100 * best['auc_micro']:.2f}% at epoch {best['epoch'] + 1} |" in summary
    for link in re.findall(r"\]\(([^)]+)\)", summary):
        assert (run_dir / link).is_file(), link
    assert f"tensorboard --logdir {run_dir}/tensorboard" in summary


def test_fast_dev_run_runs_one_batch_of_each_loop_and_skips_the_auc(tmp_path):
    proc = run_py(tmp_path, *TINY_DATASET, "trainer.fast_dev_run=true")
    assert proc.stdout.count("fast_dev_run: one batch of each loop ran; the AUC needs every test window") == 1
    assert "AUC: " not in proc.stdout and "val AUC" not in proc.stdout
    [run_dir] = (tmp_path / "outputs" / "runs").iterdir()
    assert not (run_dir / "results.json").exists() and not (run_dir / "checkpoints").exists()
