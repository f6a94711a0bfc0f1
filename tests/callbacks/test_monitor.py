"""The per-epoch TensorBoard views (lnra.callbacks.monitor): a real two-epoch training run on tiny generated
videos, read back with TensorBoard's event reader, plus the choice of the fixed test windows."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers.paths import TINY_DATASET
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lnra.callbacks.monitor import (
    FixedWindowImages,
    HealthMonitor,
    HParamsLogger,
    PseudoClipImages,
    ScoreMonitor,
    choose_windows,
)
from lnra.pictures import GRID_GAP_PX as GAP_PX
from lnra.pictures import GRID_HEADER_PX as HEADER_PX
from lnra.run.builders import build_datamodule, build_trainer
from lnra.run.results import run_hparams
from lnra.run.tasks import run_task
from lnra.tools.hparams_table import read_hparams

TINY_RUN = ["model.net.widths=[8,8,16,16]", "trainer.accelerator=cpu", "trainer.max_epochs=2",
            "+trainer.limit_train_batches=2", "trainer.enable_progress_bar=false",
            "callbacks.pictures.timelines=false", "logger=tensorboard", "pseudo=synthetic_smoothmix",
            "trainer.precision=32-true"]
LABEL_WIDTH = 150  # the labelled grid's default label column
MONITOR_TYPES = (FixedWindowImages, PseudoClipImages, ScoreMonitor, HParamsLogger, HealthMonitor)


def test_fixed_windows_are_half_anomalous_and_spread_over_videos():
    clip_len, c = 16, 8
    labels = [np.r_[np.zeros(40), np.ones(20), np.zeros(40)] for _ in range(4)] + [np.zeros(100)]
    picks = choose_windows(labels, clip_len, 6)
    assert len(picks) == 6 and len(set(picks)) == 6
    for v, w, label in picks:
        assert labels[v][w + c] == label  # window w scores frame w + 8
    anomalous = [v for v, _, label in picks if label == 1]
    normal = [v for v, _, label in picks if label == 0]
    assert len(anomalous) == 3 and len(set(anomalous)) == 3
    assert len(set(normal)) == 3 and {1, 4} <= set(normal)  # videos without an anomalous pick first
    # fewer videos than windows: several windows of one video, still all distinct
    assert len(set(choose_windows(labels[:1], clip_len, 6))) == 6


def test_hparams_of_the_variants(compose_cfg, tmp_path):
    def hparams(*overrides: str, run_dir=tmp_path):
        cfg = compose_cfg(*overrides)
        return run_hparams(cfg, run_dir, build_datamodule(cfg))

    skip = hparams("pseudo=skip_frame", "seed=3", run_dir=tmp_path / "0_ped2_skip_frame_seed3")
    assert skip["run"] == "0_ped2_skip_frame_seed3" and skip["seed"] == 3
    assert (skip["technique"], skip["jumps"], skip["p"]) == ("skip_frame", "2,3,4,5", 0.2)
    assert skip["source"] == "-"
    assert math.isnan(skip["alpha"]) and math.isnan(skip["beta"])
    patch = hparams("pseudo=synthetic_smoothmix", "pseudo.patches.0.max_move=7")
    assert (patch["technique"], patch["source"], patch["alpha"], patch["beta"]) == ("smoothmix_s", "texture",
                                                                                     0.5, 7.0)
    assert hparams("pseudo=none")["technique"] == "none"


def test_monitor_none_adds_no_callback(compose_cfg, tmp_path):
    on = build_trainer(compose_cfg(*TINY_DATASET, *TINY_RUN), tmp_path / "a")
    assert {type(c) for c in on.callbacks} >= set(MONITOR_TYPES)
    off = build_trainer(compose_cfg(*TINY_DATASET, *TINY_RUN, "callbacks=no_views"), tmp_path / "b")
    assert not any(isinstance(c, MONITOR_TYPES) for c in off.callbacks)


def _png(event) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))


def test_training_writes_every_view_per_epoch(compose_cfg, tmp_path):
    run_dir = tmp_path / "3_synthetic_synthetic_smoothmix_seed0"
    run_task(compose_cfg(*TINY_DATASET, *TINY_RUN), run_dir)
    events = EventAccumulator(str(run_dir / "tensorboard"),
                              size_guidance={"images": 0, "scalars": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    epochs = [0, 1]

    windows = events.Images("images/test_windows")
    assert [e.step for e in windows] == epochs
    # 6 windows of 32x32 frames enlarged 3x: (header + 6 rows) x (label column + 3 panels)
    assert _png(windows[0]).shape == (HEADER_PX + 6 * (96 + GAP_PX), LABEL_WIDTH + 3 * 96, 3)
    assert not np.array_equal(_png(windows[0]), _png(windows[1]))  # the model changed between epochs
    clips = events.Images("images/pseudo_clips")
    assert [e.step for e in clips] == epochs
    assert _png(clips[0]).shape == (HEADER_PX + 4 * (96 + GAP_PX), LABEL_WIDTH + 4 * 96, 3)
    for video in ("01", "02"):
        assert [e.step for e in events.Images(f"val_timeline/{video}")] == epochs
    for label in ("normal", "anomalous"):
        assert [e.step for e in events.Histograms(f"val_scores/{label}")] == epochs
    normal = events.Histograms("val_scores/normal")[0].histogram_value
    anomalous = events.Histograms("val_scores/anomalous")[0].histogram_value
    assert normal.num + anomalous.num == 2 * (32 - 15)  # every scored frame, once
    assert [e.step for e in events.Scalars("health/learning_rate")] == epochs
    for tag in ("throughput/train_clips_per_s", "throughput/val_windows_per_s"):  # the timer's, per epoch
        assert len(events.Scalars(tag)) == len(epochs)
    assert events.Scalars("health/learning_rate")[0].value == pytest.approx(1e-4)
    assert all(e.value > 0 for e in events.Scalars("throughput/train_clips_per_s"))
    assert "health/peak_gpu_memory_gib" not in tags["scalars"]  # CPU run

    (row,) = read_hparams(run_dir)
    history = [h["auc_micro"] for h in json.loads((run_dir / "results.json").read_text())["history"]]
    assert row["run"] == run_dir.name
    assert (row["dataset"], row["variant"], row["technique"], row["source"]) == (
        "synthetic", "synthetic_smoothmix", "smoothmix_s", "texture")
    assert (row["alpha"], row["beta"], row["p"], row["jumps"]) == (0.5, 10.0, pytest.approx(0.2), "-")
    assert (row["seed"], row["resolution"], row["epochs"], row["precision"]) == (0, "32x32", 2, "32-true")
    assert row["auc_last"] == pytest.approx(history[-1], abs=1e-6)
    assert row["auc_best"] == pytest.approx(max(history), abs=1e-6)


def test_a_resumed_run_stays_one_tensorboard_run(compose_cfg, tmp_path):
    """TensorBoard appends to the run's folder (one run, one HParams row); a CSV log, which Lightning would
    overwrite, moves to resume<k>."""
    for name in ("tensorboard", "csv"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "earlier").write_text("kept")
    board = build_trainer(compose_cfg(*TINY_DATASET, *TINY_RUN), tmp_path)
    assert Path(board.logger.log_dir) == tmp_path / "tensorboard"
    csv = build_trainer(compose_cfg(*TINY_DATASET, *TINY_RUN, "logger=csv"), tmp_path)
    assert Path(csv.logger.log_dir) == tmp_path / "csv" / "resume1"


def test_a_picture_reaches_a_writer_lightning_closed_after_fit(tmp_path):
    """Lightning's teardown closes the TensorBoard writer after fit; a picture drawn later (the closing
    test's timelines) opens it again, as ``add_image`` would, instead of failing."""
    from torch.utils.tensorboard import SummaryWriter

    from lnra.callbacks import add_png

    writer = SummaryWriter(tmp_path)
    writer.close()
    add_png(writer, "timeline/late", np.full((4, 6, 3), 200, np.uint8), 3)
    writer.close()
    images = EventAccumulator(str(tmp_path)).Reload().Images("timeline/late")
    assert [(i.step, i.width, i.height) for i in images] == [(3, 6, 4)]
