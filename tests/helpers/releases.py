"""Tiny copies of each dataset's official release (their folder layout, file formats and ground truth),
which ``lnra.data.prepare`` reads and the download tests serve."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image
from scipy.io import savemat


def random_frames(seed: int, count: int, shape: tuple[int, ...]) -> np.ndarray:
    """Seeded uint8 frames, so that a test can compute again what a release holds."""
    return np.random.default_rng(seed).integers(0, 256, (count, *shape), dtype=np.uint8)


# -- UCSD Ped2 -------------------------------------------------------------------------------------
UCSD_TRAIN = [5, 7]
UCSD_TEST = [6, 9, 4]
UCSD_M = """% ground truth of the UCSD Ped2 test videos
TestVideoFile = {};
TestVideoFile{end+1}.gt_frame = [3:5];
TestVideoFile{end+1}.gt_frame = [1:2, 6:9];
TestVideoFile{end+1}.gt_frame = [4];
"""
UCSD_LABELS = [0, 0, 1, 1, 1, 0] + [1, 1, 0, 0, 0, 1, 1, 1, 1] + [0, 0, 0, 1]


def ucsd_masks() -> list[np.ndarray]:
    """Per test video (frames, 12, 18) bool masks: one pixel per anomalous frame, placed by frame index."""
    out, start = [], 0
    for length in UCSD_TEST:
        masks = np.zeros((length, 12, 18), bool)
        for t, label in enumerate(UCSD_LABELS[start : start + length]):
            masks[t, t % 12, (3 * t) % 18] = bool(label)
        out.append(masks)
        start += length
    return out


def ucsd_release(base: Path) -> Path:
    """``UCSD_Anomaly_Dataset.v1p2/UCSDped2/{Train,Test}`` with .tif frames, *_gt mask folders and the .m."""
    ped2 = base / "UCSD_Anomaly_Dataset.v1p2" / "UCSDped2"
    for folder, lengths, seed in (("Train", UCSD_TRAIN, 0), ("Test", UCSD_TEST, 10)):
        for v, length in enumerate(lengths, start=1):
            video = ped2 / folder / f"{folder}{v:03d}"
            video.mkdir(parents=True)
            for t, frame in enumerate(random_frames(seed + v, length, (12, 18)), start=1):
                Image.fromarray(frame).save(video / f"{t:03d}.tif")
    for v, mask_stack in enumerate(ucsd_masks(), start=1):
        gt_masks = ped2 / "Test" / f"Test{v:03d}_gt"
        gt_masks.mkdir()
        for t, mask in enumerate(mask_stack, start=1):
            Image.fromarray(mask.astype(np.uint8) * 255).save(gt_masks / f"{t:03d}.bmp")
    (ped2 / "Test" / "UCSDped2.m").write_text(UCSD_M)
    (base / "UCSD_Anomaly_Dataset.v1p2" / "UCSDped1" / "Train" / "Train001").mkdir(parents=True)
    return base / "UCSD_Anomaly_Dataset.v1p2"


# -- CUHK Avenue -----------------------------------------------------------------------------------
AVENUE_TRAIN = [5, 8]
AVENUE_TEST = [6, 4]
AVENUE_ANOMALOUS = [[2, 3], [0]]


def write_avi(path: Path, frames: np.ndarray) -> None:
    """A lossless (PNG-coded) .avi, so the frames read back exactly."""
    iio.imwrite(path, frames, plugin="FFMPEG", fps=25, codec="png", pixelformat="rgb24", macro_block_size=1)


def avenue_release(base: Path) -> Path:
    for folder, lengths, seed in (("training_videos", AVENUE_TRAIN, 0), ("testing_videos", AVENUE_TEST, 10)):
        (base / folder).mkdir(parents=True)
        for v, length in enumerate(lengths, start=1):
            write_avi(base / folder / f"{v:02d}.avi", random_frames(seed + v, length, (16, 24, 3)))
    masks = base / "ground_truth_demo" / "testing_label_mask"
    masks.mkdir(parents=True)
    for v, (length, anomalous) in enumerate(zip(AVENUE_TEST, AVENUE_ANOMALOUS, strict=True), start=1):
        cells = np.empty((1, length), dtype=object)
        for t in range(length):
            mask = np.zeros((16, 24), np.uint8)
            if t in anomalous:
                mask[3 + t, 5] = 1  # one pixel is enough
            cells[0, t] = mask
        savemat(masks / f"{v}_label.mat", {"volLabel": cells})
    return base


# -- ShanghaiTech ----------------------------------------------------------------------------------
SHANGHAI_TRAIN = {"01_001": 6, "02_001": 5}
SHANGHAI_TEST = {"01_0014": [0, 1, 1, 0, 0], "12_0151": [1, 1, 0, 0, 0, 0, 0]}


def shanghai_release(base: Path) -> Path:
    (base / "training" / "videos").mkdir(parents=True)
    for v, (name, length) in enumerate(SHANGHAI_TRAIN.items()):
        write_avi(base / "training" / "videos" / f"{name}.avi", random_frames(v, length, (16, 32, 3)))
    (base / "testing" / "test_frame_mask").mkdir(parents=True)
    for v, (name, labels) in enumerate(SHANGHAI_TEST.items()):
        folder = base / "testing" / "frames" / name
        folder.mkdir(parents=True)
        for t, frame in enumerate(random_frames(20 + v, len(labels), (16, 32, 3))):
            Image.fromarray(frame).save(folder / f"{t:03d}.jpg")
        np.save(base / "testing" / "test_frame_mask" / f"{name}.npy", np.array(labels, np.int64))
    return base
