"""Video frames on disk: listing, the one reader (OpenCV's), and a memory-mapped uint8 cache of each split:
decoding JPEGs costs more than the model on small images, so every frame is decoded once, at its size, by
one builder (a sweep's jobs on a cold cache would otherwise each decode the whole dataset; docs/guide.md,
Datasets), and the cache's data appears only with its metadata."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import mmap
import os
import re
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import cv2
import numpy as np
from tqdm.auto import tqdm

from lnra.diskio import atomic_path, explained_write_errors, partial_path, unreadable
from lnra.errors import LnraError

log = logging.getLogger(__name__)

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
LAYOUT = "<root>/<dataset>/{training,testing}/frames/<video>/<frame>.jpg (or .png/.tif)"


@dataclass(frozen=True)
class VideoListing:
    """The frame files of one split, videos and frames in sorted name order (docs/method.md §1)."""

    split_dir: Path
    names: list[str]
    files: list[list[Path]]

    @property
    def lengths(self) -> list[int]:
        return [len(f) for f in self.files]

    @property
    def offsets(self) -> np.ndarray:
        """(V + 1,) int64: video v is frames ``offsets[v]:offsets[v + 1]`` of the split."""
        return np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)


def natural_key(path: Path) -> tuple:
    """Sort key comparing digit runs by value, so ``2.jpg`` precedes ``10.jpg``; the full name breaks ties."""
    parts = re.split(r"(\d+)", path.name)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p), path.name


def list_videos(split_dir: Path) -> VideoListing:
    """Find the videos of ``<root>/<name>/<split>/frames``; index frames by sorted position, not name."""
    if problem := unreadable(split_dir, "dataset folder", "folder"):
        raise LnraError(f"{problem} (expected layout {LAYOUT})")
    videos = sorted((p for p in split_dir.iterdir() if p.is_dir()), key=natural_key)
    if not videos:
        raise LnraError(f"no video folders in {split_dir} (expected layout {LAYOUT})")
    return VideoListing(split_dir, [v.name for v in videos], [frame_files(v, "video folder") for v in videos])


def frame_files(folder: Path, what: str) -> list[Path]:
    """The frame images of ``folder`` in natural order; none is an error naming the folder as ``what``."""
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS), key=natural_key)
    if not files:
        raise LnraError(f"{what} {folder} holds no frames ({', '.join(FRAME_EXTENSIONS)})")
    return files


def resize_frame(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """The reference resize (docs/method.md §1): ``cv2.resize``, INTER_LINEAR (a copy at the same size)."""
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)


def read_frame(path: Path, what: str = "frame") -> np.ndarray:
    """Grayscale uint8 exactly as ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)`` (docs/method.md §1), from bytes
    read here so that a truncated JPEG is refused: libjpeg decodes one without an error (the rest grey)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise LnraError(f"cannot read {what} {path}: {err.strerror or err}") from None
    raw = data.tobytes()  # the main image's last start-of-scan marker must be followed by end-of-image
    if raw[:2] == b"\xff\xd8" and raw.rfind(b"\xff\xd9") < raw.rfind(b"\xff\xda"):
        raise LnraError(f"cannot read {what} {path}: the JPEG data is truncated")
    frame = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if frame is None:
        raise LnraError(f"cannot read {what} {path}: not an image OpenCV can decode")
    return frame


class VideoFile(NamedTuple):
    """The frames of one video (read lazily) and its frame rate if the file says."""

    frames: Iterator[np.ndarray]
    fps: float | None


def open_video(path: Path) -> VideoFile:
    """A video's RGB frames through ``cv2.VideoCapture``, as decoded: a truncated file ends early."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():  # nothing to release: the capture holds no file
        raise LnraError(f"cannot read video {path}: OpenCV cannot open it (not a video, or a codec its "
                        "ffmpeg lacks)")
    fps = capture.get(cv2.CAP_PROP_FPS)

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()

    return VideoFile(frames(), float(fps) if fps and fps > 0 else None)


READER = "opencv-imread-gray+resize-linear"  # part of the cache key: caches of another reader are not reused


def files_key(listing: VideoListing, prefix: str) -> str:
    """Hash of ``prefix`` and every file's video, name, size and time: a cache named by it follows them."""
    h = hashlib.sha1(prefix.encode())
    for name, frames in zip(listing.names, listing.files, strict=True):
        h.update(name.encode())
        for f in frames:
            st = f.stat()
            h.update(f"{f.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


@dataclass
class FrameStore:
    """All frames of one split as one (N, H, W) uint8 array plus per-video offsets."""

    frames: np.ndarray  # memory-mapped copy-on-write: writable views for torch, the file never changes
    names: list[str]
    offsets: np.ndarray  # (V + 1,), video v is frames[offsets[v]:offsets[v+1]]
    _read_bytes: int = field(default=0, repr=False)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def video(self, v: int) -> np.ndarray:
        return self.frames[self.offsets[v] : self.offsets[v + 1]]

    def gather(self, index: np.ndarray | slice) -> np.ndarray:
        """A copy of ``frames[index]``; mapped pages count as resident until dropped, every RELEASE_BYTES."""
        out = self.frames[index]
        if isinstance(index, slice):  # a view of the map, not a copy
            out = out.copy()
        self._read_bytes += out.nbytes
        # unmap the pages of the cache file read so far (a store pickled to a spawned worker holds a copy)
        if self._read_bytes >= RELEASE_BYTES and (mapped := getattr(self.frames, "_mmap", None)) is not None:
            self._read_bytes = 0
            mapped.madvise(mmap.MADV_DONTNEED)
        return out


RELEASE_BYTES = 256 << 20
DECODE_CHUNK = 64


class _ProgressLines:
    """tqdm's ``update`` as a log line at each tenth of the work, not a log file flooded by a bar."""

    def __init__(self, total: int | None, desc: str, initial: int = 0) -> None:
        self.total, self.desc, self.n, self._tenth = total, desc, initial, -1

    def update(self, n: int) -> None:
        self.n += n
        tenth = int(10 * self.n / self.total) if self.total else -1
        if tenth > self._tenth:
            self._tenth = tenth
            log.info("%s: %d%% (%d of %d)", self.desc, 10 * tenth, self.n, self.total)


def progress(total: int | None, desc: str, **bar: Any) -> Any:
    """A progress bar on a terminal, progress lines elsewhere (a log file, SLURM, a Ray job's output)."""
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, **bar)
    return nullcontext(_ProgressLines(total, desc, bar.get("initial", 0)))


# A full disk or a read-only cache folder → one line naming the path and the free space.
explained_cache_write = partial(explained_write_errors, what="the frame cache")


@contextmanager
def build_lock(data_path: Path) -> Iterator[None]:
    """Hold the ``fcntl`` lock on ``<cache>.lock``, which the OS releases when its holder dies, however."""
    lock_path = data_path.with_name(f"{data_path.name}.lock")
    said = False
    while True:
        with explained_cache_write(lock_path):
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not said:
                log.info("waiting for another process that is building the frame cache %s (lock %s)",
                         data_path.name, lock_path)
                said = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        with suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(fd), os.stat(lock_path)):
                break
        os.close(fd)  # the holder we waited for removed this lock file: lock the current one
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # while still locked: a waiter on this file sees it is gone
        os.close(fd)


@contextmanager
def writing_cache(data_path: Path, meta: dict[str, Any], shape: tuple[int, int, int]) -> Iterator[BinaryIO]:
    """The file to append a uint8 ``shape`` array's frames to (a writable memory map keeps every written page
    resident); on success the metadata ``.json`` is published, then the data: whoever sees one sees both."""
    meta_path = data_path.with_suffix(".json")  # under the lock: a killed builder's partial files are reused
    with (explained_cache_write(data_path),
          atomic_path(data_path, partial_path(data_path)) as data_tmp,
          atomic_path(meta_path, partial_path(meta_path)) as meta_tmp):
        with open(data_tmp, "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
            yield f
            f.flush()
            os.fsync(f.fileno())
        meta_tmp.write_text(json.dumps(meta))


def load_frame_store(listing: VideoListing, cache_dir: Path, dataset: str, split: str, height: int,
                     width: int) -> FrameStore:
    """The cache of this exact source and resolution, built first by one process however many ask."""
    with explained_cache_write(cache_dir):
        cache_dir.mkdir(parents=True, exist_ok=True)
    key = files_key(listing, f"{READER}|{dataset}|{split}|{height}x{width}")  # all the pixels depend on
    data_path = cache_dir / f"{dataset}_{split}_{height}x{width}_{key}.npy"
    store = _open_cache(data_path, listing, (height, width), warn=False)
    if store is None:
        with build_lock(data_path):
            # another process may have built it while this one waited for the lock
            store = _open_cache(data_path, listing, (height, width), warn=True)
            if store is None:
                _build_cache(listing, data_path, f"{dataset}/{split}", height, width)
                store = _open_cache(data_path, listing, (height, width), warn=True)
    if store is None:
        raise LnraError(f"the frame cache {data_path} just built does not read back; delete it and rerun")
    return store


def _open_cache(data_path: Path, listing: VideoListing, size: tuple[int, int], warn: bool
                ) -> FrameStore | None:
    """The cache at ``data_path`` (metadata beside it) when it exists and matches ``listing``, else None."""
    if not data_path.exists():
        return None
    try:
        meta = json.loads(data_path.with_suffix(".json").read_text())
        frames = np.load(data_path, mmap_mode="c")
    except (OSError, ValueError) as err:
        if warn:
            log.warning("frame cache %s is unreadable (%s); rebuilding it", data_path, err)
        return None
    if (meta.get("names") == listing.names and meta.get("lengths") == listing.lengths
            and frames.shape == (sum(listing.lengths), *size)):
        return FrameStore(frames, listing.names, listing.offsets)
    if warn:
        log.warning("frame cache %s does not match its source; rebuilding it", data_path)
    return None


def _build_cache(listing: VideoListing, data_path: Path, what: str, height: int, width: int) -> None:
    """Decode every frame into ``data_path`` (lock held) on a few threads (OpenCV releases the GIL)."""
    stem = data_path.name.rsplit("_", 1)[0]
    stale = max((p.name for p in data_path.parent.glob(f"{stem}_*.npy") if p != data_path), default=None)
    if stale:
        log.info("the frames of %s differ from those cached in %s (kept); building a new cache", what, stale)
    data_path.unlink(missing_ok=True)  # a damaged or mismatched one: never beside new metadata
    files = [f for video in listing.files for f in video]
    log.info("building the frame cache %s (%d frames at %dx%d)", data_path, len(files), height, width)
    meta = {"names": listing.names, "lengths": listing.lengths, "source": str(listing.split_dir)}
    sizes: dict[str, set[tuple[int, ...]]] = {}

    def load(path: Path) -> tuple[tuple[int, ...], np.ndarray]:
        frame = read_frame(path)
        return frame.shape, resize_frame(frame, height, width)

    with (writing_cache(data_path, meta, (len(files), height, width)) as out,
          ThreadPoolExecutor(min(8, (os.cpu_count() or 2) * 2)) as pool,
          progress(len(files), f"caching {what} at {height}x{width}", unit="frame") as bar):
        for start in range(0, len(files), DECODE_CHUNK):
            chunk = files[start : start + DECODE_CHUNK]
            for path, (shape, frame) in zip(chunk, pool.map(load, chunk), strict=True):
                sizes.setdefault(str(path.parent), set()).add(shape)
                out.write(frame)
            bar.update(len(chunk))
    if mixed := {video: sorted(shapes) for video, shapes in sizes.items() if len(shapes) > 1}:
        log.warning("%d video(s) have frames of different sizes (all resized to %dx%d): %s", len(mixed),
                    height, width, "; ".join(f"{v}: {s}" for v, s in sorted(mixed.items())))
