"""The official releases of Ped2, Avenue and ShanghaiTech, each read in its own format (frame folders,
``.avi`` videos, MATLAB ground truth) and written through one :class:`~lnra.data.prepared_layout.Writer`:
:data:`PREPARERS` maps a dataset's name to its reader. Every test video's frame count is checked
against its ground truth.
"""

from __future__ import annotations

import re
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lnra.data.frames import natural_key, read_frame
from lnra.data.prepared_layout import Writer, sorted_files
from lnra.data.video_file import open_video
from lnra.errors import LnraError


def _dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=natural_key)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise LnraError(f"{what} not found: {path}")
    return path


def check_count(video: str, frames: int, labels: int, where: Path) -> None:
    if frames != labels:
        raise LnraError(f"test video {video} has {frames} frames but its ground truth {where} covers "
                        f"{labels}")


# -- UCSD Ped2 ------------------------------------------------------------------------------------
GT_LINE = re.compile(r"gt_frame\s*=\s*\[([^\]]*)\]")
GT_RANGE = re.compile(r"(\d+)\s*:\s*(\d+)|(\d+)")


def parse_ucsd_gt(text: str) -> list[list[tuple[int, int]]]:
    """The ``gt_frame`` lines of ``UCSDped2.m`` in order: per test video its 1-based inclusive ranges."""
    videos = []
    for body in GT_LINE.findall(text):
        found = GT_RANGE.findall(body)
        videos.append([(int(a), int(b)) if a else (int(one), int(one)) for a, b, one in found])
    return videos


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


def write_ucsd_masks(test_dir: Path, videos: list[Path], names: list[str], writer: Writer) -> None:
    """Pixel masks from the ``<video>_gt/*.bmp`` folders beside the test videos: all or none of the
    videos must have one (a release without them writes no masks; a partial set is refused)."""
    gt_dirs = [test_dir / f"{video.name}_gt" for video in videos]
    present = [d for d in gt_dirs if d.is_dir()]
    if not present:
        writer.log(f"note: no pixel-level ground truth (<video>_gt folders) in {test_dir}; no pixel masks")
        return
    if len(present) != len(gt_dirs):
        missing = ", ".join(d.name for d in gt_dirs if not d.is_dir())
        raise LnraError(f"pixel-level ground truth folders missing in {test_dir}: {missing}")
    for gt_dir, name in zip(gt_dirs, names, strict=True):
        writer.masks(name, [read_frame(f) > 0 for f in sorted_files(gt_dir, ".bmp")], gt_dir)
    writer.log(f"ped2 pixel masks: {len(names)} videos -> {writer.target}/testing/pixel_masks")


def prepare_ped2(source: Path, writer: Writer) -> None:
    with tempfile.TemporaryDirectory(prefix="lnra-ucsd-") as tmp:
        root = _ucsd_root(source, Path(tmp))
        gt_file = next(iter(sorted(root.rglob("UCSDped2.m"))), None)
        if gt_file is None:
            raise LnraError(f"ground truth UCSDped2.m not found under {root}")
        gt = parse_ucsd_gt(gt_file.read_text(errors="replace"))
        per_video: dict[str, np.ndarray] = {}
        for split, folder in (("training", "Train"), ("testing", "Test")):
            videos = [v for v in _dirs(_require(root / folder, "folder")) if not v.name.endswith("_gt")]
            if split == "testing" and len(gt) != len(videos):
                raise LnraError(f"{gt_file} has {len(gt)} gt_frame lines but {root / folder} has "
                                f"{len(videos)} test videos")
            counts = {}
            for v, video in enumerate(videos):
                name = f"{v + 1:02d}"
                frames = sorted_files(video, ".tif")
                if not frames:
                    raise LnraError(f"no .tif frames in {video}")
                counts[name] = writer.video(split, name, (read_frame(f) for f in frames))
                if split == "testing":
                    per_video[name] = ucsd_labels(gt[v], counts[name], video.name, gt_file)
            writer.split_done("ped2", split, counts)
            if split == "testing":
                write_ucsd_masks(root / folder, videos, list(counts), writer)
        writer.labels("ped2", per_video)


# -- CUHK Avenue ----------------------------------------------------------------------------------
def avenue_mask_labels(mat_file: Path) -> np.ndarray:
    """1 for each frame whose pixel mask (``volLabel``, one cell per frame) has any pixel set."""
    from scipy.io import loadmat

    try:
        masks = loadmat(mat_file)["volLabel"]
    except (OSError, ValueError, KeyError) as err:
        raise LnraError(f"cannot read volLabel from {mat_file}: {err}") from None
    if masks.dtype != object:
        raise LnraError(f"{mat_file}: volLabel is a {masks.dtype} array of shape {masks.shape}; "
                        "expected a cell array with one mask per frame")
    return np.array([int(np.any(mask)) for mask in masks.ravel()], np.uint8)


def avenue_masks(mat_file: Path) -> list[np.ndarray]:
    """The per-frame pixel masks (``volLabel`` cells) of one Avenue test video."""
    from scipy.io import loadmat

    return [np.asarray(mask) > 0 for mask in loadmat(mat_file)["volLabel"].ravel()]


def prepare_avenue(source: Path, writer: Writer) -> None:
    mask_dir = _require(source / "ground_truth_demo" / "testing_label_mask", "Avenue ground truth folder")
    per_video: dict[str, np.ndarray] = {}
    for split, folder in (("training", "training_videos"), ("testing", "testing_videos")):
        videos = sorted_files(_require(source / folder, "Avenue video folder"), ".avi")
        if not videos:
            raise LnraError(f"no .avi videos in {source / folder}")
        counts = {}
        for video in videos:
            if split == "testing":
                if not video.stem.isdigit():
                    raise LnraError(f"Avenue test video {video} is not named by its number (01.avi … 21.avi)")
                mat_file = mask_dir / f"{int(video.stem)}_label.mat"
                _require(mat_file, f"ground truth of {video.name}")
                per_video[video.stem] = avenue_mask_labels(mat_file)
            counts[video.stem] = writer.video(split, video.stem, open_video(video).frames)
            if split == "testing":
                check_count(video.stem, counts[video.stem], len(per_video[video.stem]), mat_file)
                writer.masks(video.stem, avenue_masks(mat_file), mat_file)
        writer.split_done("avenue", split, counts)
    writer.labels("avenue", per_video)


# -- ShanghaiTech Campus --------------------------------------------------------------------------
def prepare_shanghai(source: Path, writer: Writer) -> None:
    training = _require(source / "training" / "videos", "ShanghaiTech training video folder")
    videos = sorted_files(training, ".avi")
    if not videos:
        raise LnraError(f"no .avi videos in {source / 'training' / 'videos'}")
    counts = {video.stem: writer.video("training", video.stem, open_video(video).frames) for video in videos}
    writer.split_done("shanghai", "training", counts)

    frame_dir = _require(source / "testing" / "frames", "ShanghaiTech test frame folder")
    mask_dir = _require(source / "testing" / "test_frame_mask", "ShanghaiTech ground truth folder")
    test_videos = _dirs(frame_dir)
    masks = {p.stem for p in sorted_files(mask_dir, ".npy")}
    unmatched = sorted(masks ^ {v.name for v in test_videos})
    if unmatched:
        raise LnraError(f"test videos in {frame_dir} and masks in {mask_dir} do not pair up; unmatched: "
                        f"{', '.join(unmatched)}")
    counts, per_video = {}, {}
    for video in test_videos:
        frames = sorted_files(video, ".jpg")
        if not frames:
            raise LnraError(f"no .jpg frames in {video}")
        mask_file = mask_dir / f"{video.name}.npy"
        labels = np.asarray(np.load(mask_file), dtype=np.uint8).ravel()
        check_count(video.name, len(frames), len(labels), mask_file)
        counts[video.name] = writer.copy("testing", video.name, frames)
        per_video[video.name] = labels
    writer.split_done("shanghai", "testing", counts)
    writer.labels("shanghai", per_video)


PREPARERS: dict[str, Callable[[Path, Writer], None]] = {
    "ped2": prepare_ped2, "avenue": prepare_avenue, "shanghai": prepare_shanghai,
}
