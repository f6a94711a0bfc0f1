"""Result images, anomaly timelines and demo videos: the pure drawing pieces, and a real test run
that writes all of them (and the TensorBoard figures) into its run directory."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from helpers.paths import TINY_DATASET
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lnra.callbacks.result import ResultVisualiser
from lnra.errors import LnraError
from lnra.pictures import DemoLayout, ErrorColours, Timeline, label_spans, panel_row
from lnra.run.builders import build_trainer
from lnra.run.checkpoints import model_from_checkpoint
from lnra.run.tasks import run_task

TINY_MODEL = ["model.net.widths=[8,8,16,16]", "trainer.accelerator=cpu", "trainer.max_epochs=1",
              "+trainer.limit_train_batches=2", "trainer.enable_progress_bar=false"]


def test_label_spans_are_runs_of_ones():
    assert label_spans(np.array([0, 1, 1, 0, 0, 1])) == [(1, 3), (5, 6)]
    assert label_spans(np.zeros(4)) == []


def test_error_colours_use_a_fixed_scale():
    colours = ErrorColours("gray", error_max=0.5)
    frame = np.full((2, 3), 100, np.uint8)
    recon = np.array([[100, 132, 164], [36, 255, 0]], np.uint8)  # 0, 1/4 and 1/2 of error_max·127.5 … beyond
    out = colours(frame, recon)[..., 0].astype(int)
    assert out[0, 0] == 0 and out[1, 1] == 255 and out[1, 2] == 255
    assert out[0, 1] == pytest.approx(128, abs=2) and out[0, 2] == 255
    with pytest.raises(LnraError, match="colormap"):
        ErrorColours("no-such-map")


def test_panel_row_and_demo_marker():
    colours = ErrorColours()
    frame, recon = np.zeros((16, 16), np.uint8), np.full((16, 16), 255, np.uint8)
    row = panel_row(frame, recon, colours, factor=2)
    assert row.shape == (32, 96, 3) and (row[:, :32] == 0).all() and (row[:, 32:64] == 255).all()
    timeline = Timeline("v", np.arange(8, 25), np.linspace(0, 1, 17), 32, np.r_[np.zeros(12), np.ones(20)])
    layout = DemoLayout(timeline, (16, 16), factor=4)
    first = layout.frame(8, panel_row(frame, recon, colours, 4))
    later = layout.frame(20, panel_row(frame, recon, colours, 4))
    assert first.shape == later.shape and first.shape[0] % 16 == 0 and first.shape[1] % 16 == 0
    assert layout.columns[20] > layout.columns[8]
    marked = np.flatnonzero((first != later).any(axis=(0, 2)))
    assert {layout.columns[8], layout.columns[20]} <= set(marked.tolist())


def test_test_run_writes_images_timelines_videos_and_tensorboard(compose_cfg, tmp_path):
    cfg = compose_cfg(*TINY_DATASET, *TINY_MODEL, "callbacks.pictures.images=true",
                      "callbacks.pictures.video=true",
                      "logger=tensorboard")
    run_dir = tmp_path / "run"
    run_task(cfg, run_dir)
    windows = 32 - 15
    for video in ("01", "02"):
        images = sorted((run_dir / "images" / video).glob("*.png"))
        assert [p.stem for p in images] == [f"{t:04d}" for t in range(8, 8 + windows)]
        assert np.asarray(Image.open(images[0])).shape == (32, 96, 3)
        assert np.asarray(Image.open(run_dir / "timelines" / f"{video}.png")).shape[:2] == (260, 900)
        movie = iio.imread(run_dir / "videos" / f"{video}.mp4")
        assert movie.shape[0] == windows and movie.shape[1] % 16 == 0 and movie.shape[2] % 16 == 0
    assert sorted(p.name for p in (run_dir / "videos").iterdir()) == ["01.mp4", "02.mp4"]  # no spools left
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert {"timeline/01", "timeline/02"} <= set(events.Tags()["images"])
    model = model_from_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert model.clip_shape == (16, 32, 32) and model.widths == (8, 8, 16, 16)


def test_visualisation_off_adds_no_callback(compose_cfg, tmp_path):
    on = build_trainer(compose_cfg(*TINY_DATASET, *TINY_MODEL), tmp_path / "a")
    assert any(isinstance(c, ResultVisualiser) for c in on.callbacks)  # timelines are on by default
    off = build_trainer(compose_cfg(*TINY_DATASET, *TINY_MODEL, "~callbacks.pictures"), tmp_path / "b")
    assert not any(isinstance(c, ResultVisualiser) for c in off.callbacks)
