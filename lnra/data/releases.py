"""The official releases of Ped2, Avenue and ShanghaiTech, each read in its own format into the one
:class:`Writer`, so that every dataset comes out in the layout ``python -m lnra.data.prepare`` promises."""

from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from lnra.data.frames import natural_key, open_video, read_frame
from lnra.data.labels import paper_label_file
from lnra.errors import LnraError

# Test-frame totals of the official releases; a different total is reported, not refused (a subset).
OFFICIAL_TEST_FRAMES = {"ped2": 2010, "avenue": 15324, "shanghai": 40791}


def sorted_files(folder: Path, suffix: str, what: str = "") -> list[Path]:
    """The ``suffix`` files of ``folder`` in natural order; none is an error when ``what`` names them."""
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() == suffix), key=natural_key)
    if what and not files:
        raise LnraError(f"no {suffix} {what} in {folder}")
    return files


def _dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=natural_key)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise LnraError(f"{what} not found: {path}")
    return path


@dataclass
class Writer:
    """Writes one dataset into the staging copy of ``<out>/<name>``, reporting each step."""

    root: Path  # the staging folder
    target: Path  # what it becomes: the name to report (its name is the dataset's)
    ext: str
    log: Callable[[str], None] = print
    label_source: str = "paper"  # or "ground_truth": labels derived from the official ground truth
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split → video → frames written
    truth: dict[str, np.ndarray] = field(default_factory=dict)  # test video → labels from the ground truth

    def frame_name(self, position: int, suffix: str | None = None) -> str:
        """``0000.jpg``, ``0001.jpg``, …: the sorted position (names are never parsed as indices)."""
        return f"{position:04d}{suffix or '.' + self.ext}"

    def _folder(self, split: str, video: str, kind: str = "frames") -> Path:
        folder = self.root / split / kind / video
        folder.mkdir(parents=True)
        return folder

    def video(self, split: str, video: str, frames: Iterable[np.ndarray]) -> int:
        """Encode a video's frames as they stream in, on a few threads (PIL releases the GIL)."""
        folder = self._folder(split, video)
        count = 0
        with ThreadPoolExecutor(4) as pool:
            pending: deque = deque()
            for count, frame in enumerate(frames, start=1):
                path = folder / self.frame_name(count - 1)  # quality: for a JPEG; a PNG ignores it
                pending.append(pool.submit(lambda f, p: Image.fromarray(f).save(p, quality=95), frame, path))
                if len(pending) > 16:
                    pending.popleft().result()
            for job in pending:
                job.result()
        if count == 0:
            raise LnraError(f"{split} video {video} has no frames")
        self.counts.setdefault(split, {})[video] = count
        return count

    def copy(self, split: str, video: str, files: list[Path]) -> None:
        """Copy already-encoded frames unchanged, renamed to their sorted position."""
        folder = self._folder(split, video)
        for t, f in enumerate(files):
            shutil.copyfile(f, folder / self.frame_name(t, f.suffix.lower()))
        self.counts.setdefault(split, {})[video] = len(files)

    def ground_truth(self, video: str, frames: int, labels: np.ndarray, where: Path) -> None:
        """Keep a test video's labels from the official ground truth ``where``; they must cover its frames."""
        if frames != len(labels):
            raise LnraError(f"test video {video} has {frames} frames but its ground truth {where} covers "
                            f"{len(labels)}")
        self.truth[video] = labels

    def masks(self, video: str, masks: list[np.ndarray], where: Path) -> None:
        """Write a test video's masks as 0/1 PNGs; a mask must cover its frame pixel for pixel."""
        frames = self.counts["testing"][video]
        if len(masks) != frames:
            raise LnraError(f"test video {video} has {frames} frames but its pixel ground truth {where} "
                            f"has {len(masks)} masks")
        first = self.root / "testing" / "frames" / video / self.frame_name(0)
        size = read_frame(first, "prepared frame").shape
        folder = self._folder("testing", video, "pixel_masks")
        for t, mask in enumerate(masks):
            if mask.shape != size:
                raise LnraError(f"pixel mask {t} of test video {video} ({where}) is {mask.shape[0]}x"
                                f"{mask.shape[1]} but the frames are {size[0]}x{size[1]}")
            Image.fromarray(mask.astype(bool)).save(folder / self.frame_name(t, ".png"))

    def split_done(self, split: str) -> None:
        counts = self.counts[split]
        self.log(f"{self.target.name} {split}: {len(counts)} videos, {sum(counts.values())} frames -> "
                 f"{self.target}/{split}/frames")

    def labels(self) -> None:
        """Write the frame labels and say where they differ (docs/guide.md, Datasets: From the releases)."""
        name, per_video = self.target.name, self.truth
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
            pieces = np.split(paper, np.cumsum([len(v) for v in per_video.values()])[:-1])
            differ = [int((p != v).sum()) for p, v in zip(pieces, per_video.values(), strict=True)]
            self.log(f"{name} frames where the paper's labels differ from the official ground truth: "
                     f"{sum(differ)} in all; per video: "
                     + ", ".join(f"{video} {n}" for video, n in zip(per_video, differ, strict=True)))
        if total != OFFICIAL_TEST_FRAMES[name]:
            self.log(f"note: the official {name} release has {OFFICIAL_TEST_FRAMES[name]} test frames; "
                     f"this source has {total}")


# -- UCSD Ped2 ------------------------------------------------------------------------------------
def parse_ucsd_gt(text: str) -> list[list[tuple[int, int]]]:
    """The ``gt_frame`` lines of ``UCSDped2.m`` in order: per test video its 1-based inclusive ranges."""
    ranges = r"(\d+)\s*:\s*(\d+)|(\d+)"  # first:last, or a single frame
    return [[(int(a), int(b)) if a else (int(one), int(one)) for a, b, one in re.findall(ranges, body)]
            for body in re.findall(r"gt_frame\s*=\s*\[([^\]]*)\]", text)]


def ucsd_labels(ranges: list[tuple[int, int]], count: int, video: str, where: Path) -> np.ndarray:
    labels = np.zeros(count, np.uint8)
    for first, last in ranges:
        if not 1 <= first <= last <= count:
            raise LnraError(f"{where}: range [{first}:{last}] of test video {video} lies outside its "
                            f"{count} frames (1-based, inclusive)")
        labels[first - 1 : last] = 1
    return labels


def _ucsd_root(source: Path, tmp: Path) -> Path:
    """The ``UCSDped2`` folder of the unpacked release, unpacking the tarball first if given one."""
    if source.is_file():
        try:
            with tarfile.open(source) as tar:
                members = [m for m in tar.getmembers() if "UCSDped2/" in m.name]
                if not members:
                    raise LnraError(f"{source} holds no UCSDped2/ folder: is it UCSD_Anomaly_Dataset.tar.gz?")
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=members, **extra)
        except (tarfile.TarError, EOFError, zlib.error) as err:  # EOFError, zlib.error: a cut-off .gz
            raise LnraError(f"cannot read archive {source}: {err}") from None
        source = tmp
    if (source / "Train").is_dir() and (source / "Test").is_dir():
        return source
    found = sorted(p for p in source.rglob("UCSDped2") if p.is_dir())
    if not found:
        raise LnraError(f"no UCSDped2/{{Train,Test}} folder under {source}")
    return found[0]


def write_ucsd_masks(test_dir: Path, videos: list[Path], writer: Writer) -> None:
    """Pixel masks from the ``<video>_gt`` folders: all test videos have one, or none (then no masks)."""
    gt_dirs = [test_dir / f"{video.name}_gt" for video in videos]
    missing = [d.name for d in gt_dirs if not d.is_dir()]
    if len(missing) == len(gt_dirs):
        writer.log(f"note: no pixel-level ground truth (<video>_gt folders) in {test_dir}; no pixel masks")
        return
    if missing:
        raise LnraError(f"pixel-level ground truth folders missing in {test_dir}: {', '.join(missing)}")
    for v, gt_dir in enumerate(gt_dirs):
        writer.masks(f"{v + 1:02d}", [read_frame(f) > 0 for f in sorted_files(gt_dir, ".bmp")], gt_dir)
    writer.log(f"ped2 pixel masks: {len(gt_dirs)} videos -> {writer.target}/testing/pixel_masks")


def prepare_ped2(source: Path, writer: Writer) -> None:
    """``UCSDped2/{Train,Test}`` ``.tif`` folders, ``UCSDped2.m``'s ranges and ``Test0NN_gt`` bitmaps."""
    with tempfile.TemporaryDirectory(prefix="lnra-ucsd-") as tmp:
        root = _ucsd_root(source, Path(tmp))
        gt_file = min(root.rglob("UCSDped2.m"), default=None)
        if gt_file is None:
            raise LnraError(f"ground truth UCSDped2.m not found under {root}")
        gt = parse_ucsd_gt(gt_file.read_text(errors="replace"))
        for split, folder in (("training", "Train"), ("testing", "Test")):
            videos = [v for v in _dirs(_require(root / folder, "folder")) if not v.name.endswith("_gt")]
            if split == "testing" and len(gt) != len(videos):
                raise LnraError(f"{gt_file} has {len(gt)} gt_frame lines but {root / folder} has "
                                f"{len(videos)} test videos")
            for v, video in enumerate(videos):
                name = f"{v + 1:02d}"
                count = writer.video(split, name, map(read_frame, sorted_files(video, ".tif", "frames")))
                if split == "testing":
                    writer.ground_truth(name, count, ucsd_labels(gt[v], count, video.name, gt_file), gt_file)
            writer.split_done(split)
        write_ucsd_masks(root / "Test", videos, writer)  # videos: the test videos
        writer.labels()


# -- CUHK Avenue ----------------------------------------------------------------------------------
def prepare_avenue(source: Path, writer: Writer) -> None:
    """``*_videos/*.avi`` and ``ground_truth_demo``'s ``volLabel`` masks (a cell array, one cell a frame)."""
    from scipy.io import loadmat

    mask_dir = _require(source / "ground_truth_demo" / "testing_label_mask", "Avenue ground truth folder")
    for split, folder in (("training", "training_videos"), ("testing", "testing_videos")):
        for video in sorted_files(_require(source / folder, "Avenue video folder"), ".avi", "videos"):
            if split == "testing":
                if not video.stem.isdigit():
                    raise LnraError(f"Avenue test video {video} is not named by its number (01.avi … 21.avi)")
                mat_file = _require(mask_dir / f"{int(video.stem)}_label.mat",
                                    f"ground truth of {video.name}")
                try:
                    cells = loadmat(mat_file)["volLabel"]
                except (OSError, ValueError, KeyError) as err:
                    raise LnraError(f"cannot read volLabel from {mat_file}: {err}") from None
                if cells.dtype != object:
                    raise LnraError(f"{mat_file}: volLabel is a {cells.dtype} array of shape {cells.shape}; "
                                    "expected a cell array with one mask per frame")
                masks = [np.asarray(mask) for mask in cells.ravel()]
            count = writer.video(split, video.stem, open_video(video).frames)
            if split == "testing":
                writer.ground_truth(video.stem, count, np.array([int(np.any(m)) for m in masks], np.uint8),
                                   mat_file)
                writer.masks(video.stem, [m > 0 for m in masks], mat_file)
        writer.split_done(split)
    writer.labels()


# -- ShanghaiTech Campus --------------------------------------------------------------------------
def prepare_shanghai(source: Path, writer: Writer) -> None:
    """``training/videos/*.avi``; ``testing/frames`` copied as they are, ``testing/test_frame_mask/*.npy``."""
    training = _require(source / "training" / "videos", "ShanghaiTech training video folder")
    for video in sorted_files(training, ".avi", "videos"):
        writer.video("training", video.stem, open_video(video).frames)
    writer.split_done("training")

    frame_dir = _require(source / "testing" / "frames", "ShanghaiTech test frame folder")
    mask_dir = _require(source / "testing" / "test_frame_mask", "ShanghaiTech ground truth folder")
    test_videos = _dirs(frame_dir)
    unmatched = sorted({p.stem for p in sorted_files(mask_dir, ".npy")} ^ {v.name for v in test_videos})
    if unmatched:
        raise LnraError(f"test videos in {frame_dir} and masks in {mask_dir} do not pair up; unmatched: "
                        f"{', '.join(unmatched)}")
    for video in test_videos:
        frames = sorted_files(video, ".jpg", "frames")
        mask_file = mask_dir / f"{video.name}.npy"
        writer.ground_truth(video.name, len(frames), np.asarray(np.load(mask_file), dtype=np.uint8).ravel(),
                           mask_file)
        writer.copy("testing", video.name, frames)
    writer.split_done("testing")
    writer.labels()


PREPARERS: dict[str, Callable[[Path, Writer], None]] = {"ped2": prepare_ped2, "avenue": prepare_avenue,
                                                        "shanghai": prepare_shanghai}
