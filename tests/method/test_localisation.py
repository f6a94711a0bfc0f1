"""Pixel-level localisation: the metrics on maps with known answers, streaming vs exact, the real Ped2
masks, and the metrics of a real (tiny) train + test run in results.json and the history."""

from __future__ import annotations

import json
import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from helpers.paths import TINY_DATASET
from omegaconf import OmegaConf
from PIL import Image
from sklearn.metrics import roc_auc_score

from lnra.data.synthetic import SyntheticSpec, generate_synthetic
from lnra.errors import LnraError
from lnra.loading.datamodule import VideoDataModule
from lnra.method.pixel_metrics import PixelLocalisation, equal_error_rate, error_maps, threshold_grid
from lnra.pictures import OUTLINE_RGB, ErrorColours, localisation_panel
from lnra.run.tasks import run_task


def _metric(errors: torch.Tensor, masks: torch.Tensor, **kwargs) -> dict:
    metric = PixelLocalisation(**kwargs)
    metric.update(errors, masks)
    return metric.compute()


def _masks(frames: int = 6, size: int = 12) -> torch.Tensor:
    """Half the frames anomalous, each with a differently placed rectangle."""
    masks = torch.zeros(frames, size, size, dtype=torch.bool)
    for t in range(0, frames, 2):
        masks[t, t : t + 4, 2 : 2 + t + 3] = True
    return masks


def test_a_perfect_map_scores_one_and_an_inverted_map_zero() -> None:
    masks = _masks()
    perfect = _metric(masks.float() * 0.3, masks)
    assert perfect == {"pixel_auroc": 1.0, "pixel_ucsd_auc": 1.0, "pixel_ucsd_eer": 0.0}
    inverted = _metric((~masks).float() * 0.3, masks)
    assert inverted == {"pixel_auroc": 0.0, "pixel_ucsd_auc": 0.0, "pixel_ucsd_eer": 1.0}


def test_without_both_classes_the_metrics_are_none() -> None:
    normal = torch.zeros(2, 8, 8, dtype=torch.bool)
    assert _metric(torch.rand(2, 8, 8), normal) == dict.fromkeys(
        ("pixel_auroc", "pixel_ucsd_auc", "pixel_ucsd_eer"))


@pytest.mark.parametrize(("gt_pixels", "flagged", "detected"),
                         [(10, 4, True), (10, 3, False), (15, 6, True), (15, 5, False), (5, 2, True)])
def test_the_40_percent_rule_at_its_boundary(gt_pixels: int, flagged: int, detected: bool) -> None:
    """One anomalous frame with ``flagged`` of its ``gt_pixels`` at a high error, one clean normal frame:
    at that error's threshold the anomalous frame is a true positive exactly when flagged/gt ≥ 0.4."""
    masks = torch.zeros(2, 4, 8, dtype=torch.bool)
    masks[0].view(-1)[:gt_pixels] = True
    errors = torch.zeros(2, 4, 8)
    errors[0].view(-1)[:flagged] = 1.0
    result = _metric(errors, masks)
    # detected: the point (FPR 0, TPR 1) exists → AUC 1; missed: only (1, 1) beyond (0, 0) → AUC 0.5
    assert result["pixel_ucsd_auc"] == (1.0 if detected else 0.5)
    assert result["pixel_ucsd_eer"] == (0.0 if detected else 0.5)


def test_a_normal_frame_with_one_flagged_pixel_is_a_false_positive() -> None:
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    masks[0, :2] = True
    errors = masks.float()
    errors[1, 3, 3] = 1.0  # as high as the anomaly: at every threshold the normal frame is flagged too
    assert _metric(errors, masks)["pixel_ucsd_auc"] == 0.5
    errors[1, 3, 3] = 0.5  # lower: a threshold between them separates the frames
    assert _metric(errors, masks)["pixel_ucsd_auc"] == 1.0


def _exact_ucsd(errors: np.ndarray, masks: np.ndarray, fraction: float = 0.4) -> float:
    """The UCSD pixel-level ROC AUC swept over every distinct error (the unbinned definition)."""
    points = [(0.0, 0.0)]
    anomalous = masks.reshape(len(masks), -1).any(1)
    for t in np.unique(np.concatenate([errors.ravel(), [np.inf]]))[::-1]:
        flagged = errors >= t
        hits = (flagged & masks).reshape(len(masks), -1).sum(1)
        tp = hits[anomalous] >= fraction * masks.reshape(len(masks), -1).sum(1)[anomalous]
        fp = flagged[~anomalous].reshape((~anomalous).sum(), -1).any(1)
        points.append((np.mean(fp), np.mean(tp)))
    fpr, tpr = np.array(sorted(points)).T
    return float(np.trapezoid(tpr, fpr))


def test_streaming_equals_exact_on_small_data() -> None:
    """Errors on the threshold grid, fed in three batches: the binned results equal sklearn's exact
    pixel AUROC and the UCSD AUC swept over every distinct error; off the grid they stay within 1e-3."""
    gen = torch.Generator().manual_seed(0)
    grid = threshold_grid()
    masks = torch.cat([_masks(), _masks(), _masks()])
    lift = masks * grid[torch.randint(0, 1000, masks.shape, generator=gen)]
    on_grid = grid[torch.bucketize(grid[torch.randint(0, 1000, masks.shape, generator=gen)] + lift, grid,
                                   right=True) - 1]
    metric = PixelLocalisation()
    for chunk in range(3):
        metric.update(on_grid[6 * chunk : 6 * chunk + 6], masks[6 * chunk : 6 * chunk + 6])
    streamed = metric.compute()
    assert streamed["pixel_auroc"] == pytest.approx(roc_auc_score(masks.ravel(), on_grid.ravel()), abs=1e-12)
    assert streamed["pixel_ucsd_auc"] == pytest.approx(_exact_ucsd(on_grid.numpy(), masks.numpy()), abs=1e-12)
    off_grid = torch.rand(masks.shape, generator=gen) * 0.2 + masks * 0.05
    assert _metric(off_grid, masks)["pixel_auroc"] == pytest.approx(
        roc_auc_score(masks.ravel(), off_grid.ravel()), abs=1e-3)


@pytest.mark.parametrize("bins", [2, 3, 1000, 100_000])
def test_bin_index_equals_a_search_of_the_grid(bins: int) -> None:
    """The table of float-bit buckets lands every error where ``bucketize`` does, for any grid: random
    errors over the whole range, every threshold, its float neighbours on both sides, zero, values above
    the top; a NaN counts as the largest error."""
    metric, grid = PixelLocalisation(bins), threshold_grid(bins)
    geometric = torch.from_numpy(np.geomspace(1e-6, 4, bins - 1)).float()
    step = math.log(4e6) / max(1, bins - 2)
    assert grid[0] == 0 and (grid[-1] == 4 or bins == 2) and (grid[1:] > grid[:-1]).all()
    assert (grid[1:] <= geometric).all() and (grid[1:] / geometric > 1 - step / 2).all()
    up, down = torch.nextafter(grid, torch.tensor(10.0)), torch.nextafter(grid, torch.tensor(-1.0)).abs()
    errors = torch.cat([torch.rand(200_000) * 4, torch.rand(100_000) ** 8 * 4, grid, up, down,
                        torch.tensor([0.0, 1e-9, 4.0, 4.5, 1e9])])
    searched = torch.bucketize(errors.clamp(0, 4), grid, right=True) - 1
    assert torch.equal(metric.bin_index(errors).long(), searched)
    assert metric.bin_index(torch.tensor([math.nan])).tolist() == [bins - 1]
    with pytest.raises(LnraError, match=r"localisation.bins must be in \[2, 100000\], got 100001"):
        PixelLocalisation(100_001)


def test_equal_error_rate_interpolates_where_fpr_meets_the_miss_rate() -> None:
    fpr, tpr = torch.tensor([0.0, 0.2, 0.6, 1.0]), torch.tensor([0.0, 0.6, 0.9, 1.0])
    assert equal_error_rate(fpr, tpr) == pytest.approx(0.2 + 0.2 / 0.7 * 0.4)


def test_error_maps_are_upsampled_to_the_mask_and_smoothed() -> None:
    recon, frame = torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8)
    recon[0, 0, 3, 3] = 1.0
    maps = error_maps(recon, frame, (16, 16))
    assert maps.shape == (1, 16, 16) and maps[0, 6:8, 6:8].min() > 0 and maps[0, 10:, 10:].max() == 0
    smooth = error_maps(recon, frame, (16, 16), sigma=1.5)  # spreads the error, keeps its mass
    assert smooth.sum() == pytest.approx(maps.sum(), rel=1e-4) and smooth.max() < maps.max()
    assert smooth[0, 10:, 10:].max() > 0


def test_real_ped2_masks_load_and_align_with_the_frames(shared_data: Path, tmp_path: Path) -> None:
    dm = VideoDataModule("ped2", shared_data / "ped2", tmp_path / "cache", 64, 64)
    dm.check_test_split()
    store = dm.pixel_masks()
    assert store is not None and (store.height, store.width) == (240, 360)
    assert len(store.bits) == 2010 and store.offsets[-1] == sum(len(lab) for lab in dm.test_videos().labels)
    frame = np.asarray(Image.open(sorted((shared_data / "ped2/testing/frames/01").iterdir())[0]))
    assert frame.shape[:2] == (store.height, store.width)  # masks cover the frames pixel for pixel
    any_pixel = np.concatenate([store.masks(np.arange(store.offsets[v], store.offsets[v + 1])).any((1, 2))
                                for v in range(len(dm.test_videos().names))])
    np.testing.assert_array_equal(any_pixel, np.concatenate(dm.test_videos().labels).astype(bool))


def _with_masks(cfg) -> None:
    """Generate the tiny synthetic set and give every anomalous test frame a square mask."""
    root = Path(cfg.dataset.root)
    generate_synthetic(root, SyntheticSpec(**OmegaConf.to_container(cfg.dataset.generate)))
    labels = np.load(root / "frame_labels_synthetic.npy")[0]
    t = 0
    for video in sorted((root / "testing" / "frames").iterdir()):
        folder = root / "testing" / "pixel_masks" / video.name
        folder.mkdir(parents=True)
        for frame in sorted(video.iterdir()):
            mask = np.zeros((32, 32), bool)
            mask[8:20, 8:20] = bool(labels[t])
            Image.fromarray(mask).save(folder / f"{frame.stem}.png")
            t += 1


def test_a_run_reports_pixel_metrics_in_results_history_and_logger(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(*TINY_DATASET, "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
                      "model.net.widths=[8,8,16,16]", "logger=csv", "callbacks.localisation.validation=true",
                      "callbacks.localisation.sigma=1.0",
                      "callbacks.pictures.timelines=false", "callbacks.pictures.images=true",
                          "callbacks.pictures.video=true", "callbacks.pictures.localisation=true")
    _with_masks(cfg)
    run_dir = tmp_path / "run"
    run_task(cfg, run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    keys = ("pixel_auroc", "pixel_ucsd_auc", "pixel_ucsd_eer")
    assert results["pixel_sigma"] == 1.0 and results["pixel_bins"] == 1000
    assert all(0.0 <= results[k] <= 1.0 for k in keys)
    assert all(0.0 <= results["history"][0][k] <= 1.0 for k in keys)
    logged = (next(run_dir.rglob("metrics.csv"))).read_text().splitlines()[0]
    assert "test/pixel_auroc" in logged and "val/pixel_ucsd_auc" in logged
    # pictures: a 4th panel with the outline of the square mask on anomalous frames only
    labels = np.load(Path(cfg.dataset.root) / "frame_labels_synthetic.npy")[0]
    for t in (int(np.flatnonzero(labels[8:24])[0]) + 8, int(np.flatnonzero(labels[8:24] == 0)[0]) + 8):
        image = np.asarray(Image.open(run_dir / "images" / "01" / f"{t:04d}.png"))
        assert image.shape == (32, 128, 3)
        green = (image[:, 96:] == OUTLINE_RGB).all(axis=2)
        assert green.any() == bool(labels[t])
    assert iio.imread(run_dir / "videos" / "01.mp4").shape[2] == 4 * 192  # four enlarged panels


def test_localisation_panel_blends_the_heat_map_and_outlines_the_mask() -> None:
    colours = ErrorColours("gray", error_max=0.5)
    frame = np.full((8, 8), 40, np.uint8)
    recon = frame.copy()
    recon[2:4, 2:4] = 255  # far beyond error_max: opaque heat (white in the gray map)
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True  # twice the panel's resolution
    panel = localisation_panel(frame, recon, colours, mask)
    assert (panel[0, 0] == 40).all() and (panel[3, 3] == 255).all()  # no error: the frame; full error: heat
    green = (panel == OUTLINE_RGB).all(axis=2)
    expected = np.zeros((8, 8), bool)
    expected[2:6, 2:6] = True
    expected[3:5, 3:5] = False
    np.testing.assert_array_equal(green, expected)
