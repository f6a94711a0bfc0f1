"""The test split's ground truth: frame labels, one (1, N) array for all test videos split by the sorted video
order, and pixel masks (docs/guide.md, Datasets), cached once as packed bits so that memory does not grow with
the test set. Masks keep their own resolution: the published pixel-level numbers are measured at it."""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from lnra.data.frames import VideoListing, files_key, list_videos, read_frame
from lnra.diskio import atomic_path, read_problem
from lnra.errors import LnraError

log = logging.getLogger(__name__)


@dataclass
class TestVideos:
    """Test video names, (n_frames,) 0/1 labels and window length, carried by every evaluation batch. Not
    frozen: torchmetrics rebuilds the Evaluation it travels in field by field."""

    __test__ = False  # data, not a pytest class

    names: tuple[str, ...]
    labels: tuple[np.ndarray, ...]
    clip_len: int = 16


def paper_label_file(name: str) -> Path | None:
    """The paper's frame labels for ``name``, shipped in the package (docs/method.md §1), or None."""
    path = Path(str(resources.files("lnra.data") / "paper_labels" / f"frame_labels_{name}.npy"))
    return path if path.is_file() else None


def find_label_file(name: str, dataset_root: Path, labels_path: str | Path | None) -> Path:
    """The configured file, else the first there in the order of docs/guide.md (Datasets, Labels); labels not
    the paper's are said, as their AUCs are not comparable with its numbers."""
    filename, root, paper = f"frame_labels_{name}.npy", Path(dataset_root), paper_label_file(name)
    candidates = [Path(labels_path)] if labels_path else [root / filename, root.parent / "labels" / filename,
                                                          *([paper] if paper else [])]
    for path in candidates:
        if (problem := read_problem(path, "file")) is None:
            break
        if not problem.startswith("not found"):  # there, but a folder or unreadable: not skipped over
            raise LnraError(f"label file {path} {problem}")
    else:
        raise LnraError(f"label file not found; looked at {', '.join(str(p) for p in candidates)} (expected "
                        f"{filename}, shape (1, total test frames), in the dataset folder, in "
                        "<data_dir>/labels, or given by dataset.labels_path=...)")
    if paper is None or path == paper:
        return path
    with suppress(OSError, ValueError):  # load_labels reports an unreadable file
        mine, theirs = np.load(path, allow_pickle=False).ravel(), np.load(paper).ravel()
        if len(mine) == len(theirs) and not np.array_equal(mine, theirs):
            log.warning("the labels in %s differ from the paper's %s labels on %d of %d frames: AUCs are "
                        "not comparable with the published ones (the paper's: dataset.labels_path=%s)",
                        path, name, int((mine != theirs).sum()), len(mine), paper)
    return path


def load_labels(path: Path, video_lengths: list[int] | np.ndarray) -> list[np.ndarray]:
    """Load and split the labels per test video; the total must equal the number of test frames."""
    try:
        labels = np.squeeze(np.load(path, allow_pickle=False))
    except (OSError, ValueError, EOFError) as err:
        raise LnraError(f"cannot read label file {path}: {err or 'empty'}") from None
    if labels.ndim != 1:
        raise LnraError(f"label file {path} has shape {labels.shape}; expected (1, N) or (N,)")
    total = int(np.sum(video_lengths))
    if len(labels) != total:
        raise LnraError(f"label file {path} has {len(labels)} labels but the {len(video_lengths)} test "
                        f"videos have {total} frames; the labels must cover every test frame in sorted video "
                        "order")
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1}:
        raise LnraError(f"label file {path} holds values {sorted(values)}; expected 0 (normal) and 1 "
                        "(anomalous)")
    return np.split(labels.astype(np.int64), np.cumsum(video_lengths)[:-1])


@dataclass
class MaskStore:
    """All masks of the test split as packed bits, (N, H, ceil(W/8)) uint8, with per-video offsets."""

    bits: np.ndarray
    height: int
    width: int
    offsets: np.ndarray  # (V + 1,), video v is rows offsets[v]:offsets[v+1]

    def masks(self, index: np.ndarray) -> np.ndarray:
        """(B, H, W) bool masks of the global frame indices ``index``."""
        return np.unpackbits(self.bits[np.asarray(index)], axis=-1, count=self.width).astype(bool)


def _image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except (OSError, ValueError) as err:
        raise LnraError(f"cannot read {path}: {err}") from None


def list_masks(testing_dir: Path, frames: VideoListing) -> VideoListing | None:
    """The mask files of ``<testing_dir>/pixel_masks`` (or None), one per test frame and of its size."""
    mask_dir = testing_dir / "pixel_masks"
    if not mask_dir.is_dir():
        return None
    masks = list_videos(mask_dir)
    if masks.names != frames.names:
        missing = sorted(set(frames.names) ^ set(masks.names))
        raise LnraError(f"{mask_dir} and {frames.split_dir} hold different videos (unmatched: "
                        f"{', '.join(missing)}); every test video needs its mask folder")
    sizes = set()
    for name, mask_files, frame_files in zip(masks.names, masks.files, frames.files, strict=True):
        if len(mask_files) != len(frame_files):
            raise LnraError(f"test video {name} has {len(frame_files)} frames but {len(mask_files)} pixel "
                            f"masks in {mask_dir / name}")
        mask_size, frame_size = _image_size(mask_files[0]), _image_size(frame_files[0])
        if mask_size != frame_size:
            raise LnraError(f"pixel masks of test video {name} are {mask_size[0]}x{mask_size[1]} but its "
                            f"frames are {frame_size[0]}x{frame_size[1]}; masks must have the frames' size")
        sizes.add(mask_size)
    if len(sizes) > 1:
        raise LnraError(f"pixel masks in {mask_dir} have different sizes {sorted(sizes)}; one size is needed")
    return masks


def load_mask_store(listing: VideoListing, cache_dir: Path, dataset: str) -> MaskStore:
    """The packed-bit cache of these masks, built first if absent (two builders write the same bytes)."""
    files = [f for video in listing.files for f in video]
    height, width = _image_size(files[0])
    path = cache_dir / f"{dataset}_pixel_masks_{height}x{width}_{files_key(listing, 'masks')}.npy"
    shape = (len(files), height, (width + 7) // 8)
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as out:  # appended rows: no page stays resident
            np.lib.format.write_array_header_1_0(out, dict(descr="|u1", fortran_order=False, shape=shape))
            for f in files:
                mask = read_frame(f, "pixel mask") > 0  # any non-zero pixel: 0/255 and 0/1 files both work
                if mask.shape != (height, width):
                    raise LnraError(f"pixel mask {f} is {mask.shape[0]}x{mask.shape[1]}, the others "
                                    f"{height}x{width}")
                out.write(np.packbits(mask, axis=-1))
        log.info("cached %d pixel masks (%dx%d) in %s", len(files), height, width, path)
    bits = np.load(path, mmap_mode="r")
    if bits.shape != shape:
        raise LnraError(f"pixel mask cache {path} does not match its masks; delete it and rerun")
    return MaskStore(bits, height, width, listing.offsets)

