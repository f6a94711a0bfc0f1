"""The same seed on the same CPU gives the same losses, validation history and AUC — with data-loader
workers drawing the skip frames and the main process drawing which samples become pseudo anomalies."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from helpers.paths import FAST_RUN

from lnra.run.tasks import train

TINY = [*FAST_RUN, "logger=csv", "trainer.log_every_n_steps=1", "trainer.limit_train_batches=3",
        "pseudo=skip_frame", "pseudo.skip.p=0.5", "dataset.num_workers=2"]


def _train(compose_cfg, run_dir: Path, seed: int) -> tuple[list[float], dict]:
    train(compose_cfg(*TINY, f"seed={seed}"), run_dir)
    with open(run_dir / "csv" / "metrics.csv") as f:
        losses = [float(row["train/loss"]) for row in csv.DictReader(f) if row.get("train/loss")]
    return losses, json.loads((run_dir / "results.json").read_text())


def test_same_seed_same_losses_and_auc_and_another_seed_differs(compose_cfg, tmp_path):
    losses_a, results_a = _train(compose_cfg, tmp_path / "a", seed=0)
    losses_b, results_b = _train(compose_cfg, tmp_path / "b", seed=0)
    assert len(losses_a) == 3  # 3 steps, every one logged
    assert losses_a == losses_b
    assert results_a["history"] == results_b["history"]
    assert results_a["auc_micro"] == results_b["auc_micro"]
    losses_c, _ = _train(compose_cfg, tmp_path / "c", seed=1)
    assert losses_c != losses_a  # the seed reaches the weights, shuffling, skip frames and selections
