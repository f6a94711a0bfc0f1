"""Pseudo-anomaly variants through the real entry point: training offline with patches, the preview PNG,
the same preview in TensorBoard, and a missing intruder folder stopping the run at start-up."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers.paths import TINY_DATASET
from helpers.runner import run_py
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lnra.callbacks.monitor import LABEL_WIDTH, PNG_NAME
from lnra.errors import LnraError
from lnra.pictures import GRID_HEADER_PX as HEADER_PX
from lnra.run.tasks import preview, run_task


def test_synthetic_patch_variant_trains_offline_and_logs_its_preview(fast_run):
    proc, run_dir = fast_run("pseudo=synthetic_smoothmix", "pseudo.patches.0.p=0.5", "logger=tensorboard",
                             "trainer.limit_train_batches=3", "trainer.log_every_n_steps=1")
    assert re.search(r"^AUC: \d+\.\d\d%", proc.stdout, re.M)
    assert json.loads((run_dir / "results.json").read_text())["pseudo"] == "synthetic_smoothmix"
    board = EventAccumulator(str(next((run_dir / "tensorboard").rglob("events.out.tfevents.*")).parent),
                             size_guidance={"images": 0, "scalars": 0})
    board.Reload()
    assert "pseudo/preview" in board.Tags()["images"]
    assert "train/loss_pseudo" in board.Tags()["scalars"]  # patched samples reached the loss


def test_preview_task_draws_input_target_and_difference_of_every_clip(compose_cfg, tmp_path):
    cfg = compose_cfg("task=preview", "pseudo=synthetic_smoothmix", *TINY_DATASET)
    path = preview(cfg, tmp_path)
    assert path == tmp_path / PNG_NAME
    image = np.asarray(Image.open(path).convert("L")).astype(float)
    # the column titles, then 4 clips x 3 rows of 32x32 frames enlarged 3x to 96 px with 2-px gaps: 12 rows
    # of 4 frames beside the label column
    assert image.shape == (HEADER_PX + 12 * 98, LABEL_WIDTH + 4 * 96)
    rows = [image[HEADER_PX + 98 * r: HEADER_PX + 98 * r + 96, LABEL_WIDTH:] for r in range(12)]
    for clip in range(4):
        inputs, target, diff = rows[3 * clip: 3 * clip + 3]
        assert np.abs(inputs - target).max() > 0  # every preview clip carries a pseudo anomaly
        assert diff.mean() < inputs.mean() and diff.max() > 0


def test_preview_of_skip_frames_shows_another_target(compose_cfg, tmp_path):
    cfg = compose_cfg("task=preview", "pseudo=skip_frame", *TINY_DATASET)
    image = np.asarray(Image.open(preview(cfg, tmp_path)).convert("L"))
    assert image.shape[0] == HEADER_PX + 12 * 98


def test_missing_intruders_stop_training_before_any_data_is_read(compose_cfg, tmp_path):
    cfg = compose_cfg("pseudo=imagenet_smoothmix", f"pseudo.source.root={tmp_path}/no_images", *TINY_DATASET)
    with pytest.raises(LnraError, match=f"intruder folder not found: {tmp_path}/no_images"):
        run_task(cfg, tmp_path / "run")
    assert not (tmp_path / "data").exists()  # the synthetic dataset was not even generated


@pytest.mark.slow
def test_missing_intruders_stop_run_py_with_one_line(tmp_path):
    proc = run_py(tmp_path, "pseudo=imagenet_smoothmix", f"pseudo.source.root={tmp_path}/no_images",
                  check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: intruder folder not found: {tmp_path}/no_images")
    assert "<class>/<image>" in lines[-1] and "Traceback" not in proc.stderr
