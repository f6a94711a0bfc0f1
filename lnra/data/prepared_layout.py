"""The layout ``python -m lnra.data.prepare`` writes (``<name>/{training,testing}/frames/<video>/<NNNN>.jpg``,
``testing/pixel_masks/<video>/<NNNN>.png``, ``frame_labels_<name>.npy``): one :class:`Writer` per
prepared dataset, which every release reader (:mod:`lnra.data.releases`) feeds, so that all datasets
come out alike whatever their official format.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lnra.data.frames import natural_key, read_frame
from lnra.data.labels import paper_label_file
from lnra.errors import LnraError

# Test-frame totals of the official releases; a different total is reported, not refused (a subset).
OFFICIAL_TEST_FRAMES = {"ped2": 2010, "avenue": 15324, "shanghai": 40791}


@dataclass
class Writer:
    """Writes frames into the staging copy of ``<out>/<name>`` and reports each step."""

    root: Path  # the staging folder
    target: Path  # what it becomes: the name to report
    ext: str
    log: Callable[[str], None] = print
    label_source: str = "paper"  # or "ground_truth": labels derived from the official ground truth

    def frame_name(self, position: int, suffix: str | None = None) -> str:
        """``0000.jpg``, ``0001.jpg``, …: the sorted position (names are never parsed as indices)."""
        return f"{position:04d}{suffix or '.' + self.ext}"

    def video(self, split: str, video: str, frames: Iterable[np.ndarray]) -> int:
        """Encode the frames of one video as they stream in (a few threads encode; PIL releases the
        GIL), holding only a few frames in memory at a time."""
        folder = self.root / split / "frames" / video
        folder.mkdir(parents=True)
        options = {"quality": 95} if self.ext == "jpg" else {}
        count = 0
        with ThreadPoolExecutor(4) as pool:
            pending: deque = deque()
            for count, frame in enumerate(frames, start=1):
                path = folder / self.frame_name(count - 1)
                pending.append(pool.submit(lambda f, p: Image.fromarray(f).save(p, **options), frame, path))
                if len(pending) > 16:
                    pending.popleft().result()
            for job in pending:
                job.result()
        if count == 0:
            raise LnraError(f"{split} video {video} has no frames")
        return count

    def copy(self, split: str, video: str, files: list[Path]) -> int:
        """Copy already-encoded frames unchanged, renamed to their sorted position."""
        folder = self.root / split / "frames" / video
        folder.mkdir(parents=True)
        for t, f in enumerate(files):
            shutil.copyfile(f, folder / self.frame_name(t, f.suffix.lower()))
        return len(files)

    def masks(self, video: str, masks: list[np.ndarray], where: Path) -> None:
        """Write one test video's pixel masks (0/1 PNGs named like its frames), checked for count and
        size against the frames already written: a mask must cover its frame pixel for pixel."""
        frames = sorted_files(self.root / "testing" / "frames" / video, f".{self.ext}")
        if len(masks) != len(frames):
            raise LnraError(f"test video {video} has {len(frames)} frames but its pixel ground truth {where} "
                            f"has {len(masks)} masks")
        size = read_frame(frames[0], "prepared frame").shape
        folder = self.root / "testing" / "pixel_masks" / video
        folder.mkdir(parents=True)
        for t, mask in enumerate(masks):
            if mask.shape != size:
                raise LnraError(f"pixel mask {t} of test video {video} ({where}) is {mask.shape[0]}x"
                                f"{mask.shape[1]} but the frames are {size[0]}x{size[1]}")
            Image.fromarray(mask.astype(bool)).save(folder / self.frame_name(t, ".png"))

    def split_done(self, name: str, split: str, counts: dict[str, int]) -> None:
        self.log(f"{name} {split}: {len(counts)} videos, {sum(counts.values())} frames -> "
                 f"{self.target}/{split}/frames")

    def labels(self, name: str, per_video: dict[str, np.ndarray]) -> None:
        """Write the frame labels: the paper's own (shipped with lnra) unless ``label_source`` is
        ``ground_truth`` or the source is not the whole release (then the paper's do not fit), and say per
        test video how many frames the paper's labels and those derived from the official ground truth
        (``per_video``) disagree on."""
        derived = np.concatenate(list(per_video.values())).astype(np.uint8)
        total = len(derived)
        paper = np.load(paper_label_file(name)).ravel().astype(np.uint8)
        paper_chosen = self.label_source == "paper" and len(paper) == total
        if self.label_source == "paper" and not paper_chosen:
            self.log(f"note: the paper's {name} labels cover {len(paper)} test frames but this source has "
                     f"{total}, so its own ground truth gives the labels")
        labels = paper if paper_chosen else derived
        np.save(self.root / f"frame_labels_{name}.npy", labels[None])
        what = "the paper's labels" if paper_chosen else "labels from the official ground truth"
        self.log(f"{name} labels: {what}, {total} test frames, {int(labels.sum())} anomalous "
                 f"({100 * labels.mean():.1f} %) -> {self.target}/frame_labels_{name}.npy")
        if len(paper) == total:
            ends = np.cumsum([len(v) for v in per_video.values()])
            differ = [int((paper[end - len(v) : end] != v).sum()) for v, end in zip(per_video.values(), ends,
                                                                                     strict=True)]
            self.log(f"{name} frames where the paper's labels differ from the official ground truth: "
                     f"{sum(differ)} in all; per video: "
                     + ", ".join(f"{video} {n}" for video, n in zip(per_video, differ, strict=True)))
        if total != OFFICIAL_TEST_FRAMES[name]:
            self.log(f"note: the official {name} release has {OFFICIAL_TEST_FRAMES[name]} test frames; "
                     f"this source has {total}")


def sorted_files(folder: Path, suffix: str) -> list[Path]:
    """The files of ``folder`` with ``suffix`` (lower case) in natural order (``2.tif`` before ``10.tif``)."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() == suffix), key=natural_key)
