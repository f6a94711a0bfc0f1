"""Convert the official releases of Ped2, Avenue and ShanghaiTech into lnra's layout.

    python -m lnra.data.prepare ped2 --source UCSD_Anomaly_Dataset.tar.gz --out data
    python -m lnra.data.prepare avenue --source Avenue_Dataset --out data
    python -m lnra.data.prepare shanghai --source shanghaitech --out data
    python -m lnra.data.prepare ped2 --download --out data     # also avenue, cifar100 (intruders)

writes ``OUT/<name>/{training,testing}/frames/<video>/<NNN>.jpg`` and ``OUT/<name>/frame_labels_<name>.npy``
(shape (1, total test frames), 1 = anomalous, videos in sorted order: the paper's own labels, shipped
with lnra, unless ``--labels ground_truth`` asks for those derived from the release's ground truth;
the two are compared per video) and, where the release has
pixel-level ground truth (Ped2's ``Test0NN_gt/*.bmp``, Avenue's ``volLabel`` masks), one binary mask
per test frame in ``OUT/<name>/testing/pixel_masks/<video>/<NNNN>.png``, so that
``python run.py dataset=<name> paths.data_dir=OUT`` reads it. Every test video's frame count is checked
against its ground truth. The result is built in a hidden folder beside the output and renamed when
complete; an existing non-empty output is kept unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tarfile
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lnra.data.frames import natural_key, read_frame
from lnra.data.labels import paper_label_file
from lnra.diskio import atomic_dir
from lnra.errors import LnraError, exit_status

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
        frames = _files(self.root / "testing" / "frames" / video, f".{self.ext}")
        if len(masks) != len(frames):
            raise LnraError(f"test video {video} has {len(frames)} frames but its pixel ground truth {where} "
                            f"has {len(masks)} masks")
        with Image.open(frames[0]) as first:
            size = (first.height, first.width)
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


def _dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=natural_key)


def _files(folder: Path, suffix: str) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.suffix.lower() == suffix), key=natural_key)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise LnraError(f"{what} not found: {path}")
    return path


def read_video(path: Path) -> Iterator[np.ndarray]:
    """The frames of a video file (RGB uint8) one by one; they are counted as decoded, not taken from
    the header."""
    import imageio.v3 as iio

    try:
        yield from iio.imiter(path, plugin="FFMPEG")
    except (OSError, RuntimeError, ValueError) as err:
        raise LnraError(f"cannot decode video {path}: {err}") from None


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
        except tarfile.TarError as err:
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
        writer.masks(name, [read_frame(f) > 0 for f in _files(gt_dir, ".bmp")], gt_dir)
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
                frames = _files(video, ".tif")
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
        videos = _files(_require(source / folder, "Avenue video folder"), ".avi")
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
            counts[video.stem] = writer.video(split, video.stem, read_video(video))
            if split == "testing":
                check_count(video.stem, counts[video.stem], len(per_video[video.stem]), mat_file)
                writer.masks(video.stem, avenue_masks(mat_file), mat_file)
        writer.split_done("avenue", split, counts)
    writer.labels("avenue", per_video)


# -- ShanghaiTech Campus --------------------------------------------------------------------------
def prepare_shanghai(source: Path, writer: Writer) -> None:
    videos = _files(_require(source / "training" / "videos", "ShanghaiTech training video folder"), ".avi")
    if not videos:
        raise LnraError(f"no .avi videos in {source / 'training' / 'videos'}")
    counts = {video.stem: writer.video("training", video.stem, read_video(video)) for video in videos}
    writer.split_done("shanghai", "training", counts)

    frame_dir = _require(source / "testing" / "frames", "ShanghaiTech test frame folder")
    mask_dir = _require(source / "testing" / "test_frame_mask", "ShanghaiTech ground truth folder")
    test_videos = _dirs(frame_dir)
    masks = {p.stem for p in _files(mask_dir, ".npy")}
    unmatched = sorted(masks ^ {v.name for v in test_videos})
    if unmatched:
        raise LnraError(f"test videos in {frame_dir} and masks in {mask_dir} do not pair up; unmatched: "
                        f"{', '.join(unmatched)}")
    counts, per_video = {}, {}
    for video in test_videos:
        frames = _files(video, ".jpg")
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


def prepare(name: str, source: Path, out: Path, overwrite: bool = False, ext: str = "jpg",
            log: Callable[[str], None] = print, labels: str = "paper") -> Path:
    """Convert one dataset; returns ``out/<name>``. Nothing existing is touched until the new copy is
    complete, and a non-empty ``out/<name>`` is only replaced with ``overwrite``."""
    source, target = Path(source), Path(out) / name
    if not source.exists():
        raise LnraError(f"source not found: {source}")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise LnraError(f"{target} already exists and is not empty; add --overwrite to replace it")
    with atomic_dir(target) as staging:
        PREPARERS[name](source, Writer(staging, target, ext, log, labels))
    log(f"wrote {target}; use it with: python run.py dataset={name} paths.data_dir={Path(out)}")
    return target


def prepare_download(name: str, out: Path, overwrite: bool = False, ext: str = "jpg",
                     labels: str = "paper") -> None:
    """``--download``: fetch the official release (lnra.data.download), then prepare it as usual."""
    from lnra.data.download import download_cifar100, downloaded_source

    if name == "cifar100":
        download_cifar100(Path(out))
        return
    target = Path(out) / name
    if name in PREPARERS and target.exists() and any(target.iterdir()) and not overwrite:
        raise LnraError(f"{target} already exists and is not empty; add --overwrite to replace it")
    with downloaded_source(name, Path(out)) as source:
        prepare(name, source, out, overwrite, ext, labels=labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lnra.data.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=[*sorted(PREPARERS), "cifar100", "imagenet"],
                        help="a dataset, or an intruder set for patch pseudo anomalies (--download only)")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--source", type=Path,
                       help="ped2: UCSD_Anomaly_Dataset.tar.gz or its unpacked folder; avenue, shanghai: "
                            "the unpacked release folder")
    given.add_argument("--download", action="store_true",
                       help="fetch the official release into OUT/downloads (resumable, checksum-verified), "
                            "then prepare it; shanghai and imagenet: says where to get them")
    parser.add_argument("--out", type=Path, required=True, help="data folder; writes OUT/<name>/")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT/<name>")
    parser.add_argument("--ext", choices=["jpg", "png"], default="jpg",
                        help="format of decoded frames (ShanghaiTech's test JPEGs are copied as they are)")
    parser.add_argument("--labels", choices=["paper", "ground_truth"], default="paper",
                        help="frame labels to write: the paper's own (default; its AUCs were computed with "
                             "them) or derived from the official ground truth; both are compared per video")
    args = parser.parse_args(argv)

    def work() -> None:
        if args.download:
            prepare_download(args.name, args.out, args.overwrite, args.ext, args.labels)
        elif args.name not in PREPARERS:
            raise LnraError(f"{args.name} is fetched, not converted: use --download instead of --source")
        else:
            prepare(args.name, args.source, args.out, args.overwrite, args.ext, labels=args.labels)

    return exit_status(work)


if __name__ == "__main__":
    sys.exit(main())
