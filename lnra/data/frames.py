"""Listing video frames on disk and decoding them once into a memory-mapped uint8 cache.

Decoding JPEGs in the training loop costs more than the model on small images, so every frame is
decoded exactly once at the target resolution; afterwards a clip is a slice of one array.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

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


def natural_key(path: Path) -> tuple:
    """Sort key comparing digit runs by value, so ``2.jpg`` precedes ``10.jpg``; for zero-padded names
    (the usual layout) this is plain name order. The full name breaks ties (``01`` vs ``1``)."""
    parts = re.split(r"(\d+)", path.name)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p), path.name


def list_videos(split_dir: Path) -> VideoListing:
    """Find the videos of ``<root>/<name>/<split>/frames``; index frames by sorted position, not name."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise LnraError(f"dataset folder not found: {split_dir} (expected layout {LAYOUT})")
    videos = sorted((p for p in split_dir.iterdir() if p.is_dir()), key=natural_key)
    if not videos:
        raise LnraError(f"no video folders in {split_dir} (expected layout {LAYOUT})")
    files = []
    for video in videos:
        frames = sorted((p for p in video.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS), key=natural_key)
        if not frames:
            raise LnraError(f"video folder {video} holds no frames ({', '.join(FRAME_EXTENSIONS)})")
        files.append(frames)
    return VideoListing(split_dir, [v.name for v in videos], files)


def resize_frames(frames: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Bilinear resize without antialiasing (half-pixel centres), as OpenCV's INTER_LINEAR does.

    Frames of one size are resized as one batch: a single call amortises torch's thread start-up,
    which for one small frame at a time costs more than the resize itself on a busy machine.
    """
    out = np.empty((len(frames), height, width), np.uint8)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, frame in enumerate(frames):
        by_shape.setdefault(frame.shape, []).append(i)
    for shape, index in by_shape.items():
        stack = np.stack([frames[i] for i in index])
        if shape != (height, width):
            t = torch.from_numpy(stack.astype(np.float32))[:, None]
            t = F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False, antialias=False)
            stack = t[:, 0].round_().clamp_(0, 255).to(torch.uint8).numpy()
        out[index] = stack
    return out


def resize_frame(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """One frame resized as :func:`resize_frames` does."""
    return resize_frames([frame], height, width)[0]


def read_frame(path: Path) -> np.ndarray:
    """Decode one frame to grayscale uint8 (ITU-R 601 luma, as OpenCV's BGR2GRAY)."""
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("L"))
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise LnraError(f"cannot read frame {path}: {err}") from None


def _source_key(listing: VideoListing, dataset: str, split: str, height: int, width: int) -> str:
    """Hash of everything the cached pixels depend on: a changed file list or file changes the key."""
    h = hashlib.sha1(f"{dataset}|{split}|{height}x{width}".encode())
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

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def video(self, v: int) -> np.ndarray:
        return self.frames[self.offsets[v] : self.offsets[v + 1]]


DECODE_CHUNK = 64


def _decode_into(out: np.ndarray, files: list[Path], height: int, width: int, desc: str) -> None:
    """Decode ``files`` into ``out`` chunk by chunk: a few threads decode (PIL releases the GIL), then
    the chunk is resized as one batch. Stops at the first unreadable frame. Videos whose frames differ
    in size are reported in one warning."""
    sizes: dict[str, set[tuple[int, ...]]] = {}
    with ThreadPoolExecutor(min(8, (os.cpu_count() or 2) * 2)) as pool, tqdm(
        total=len(files), desc=desc, unit="frame"
    ) as progress:
        for start in range(0, len(files), DECODE_CHUNK):
            chunk = files[start : start + DECODE_CHUNK]
            decoded = list(pool.map(read_frame, chunk))
            for path, frame in zip(chunk, decoded, strict=True):
                sizes.setdefault(str(path.parent), set()).add(frame.shape)
            out[start : start + len(chunk)] = resize_frames(decoded, height, width)
            progress.update(len(chunk))
    mixed = {video: sorted(shapes) for video, shapes in sizes.items() if len(shapes) > 1}
    if mixed:
        log.warning("%d video(s) have frames of different sizes (all resized to %dx%d): %s", len(mixed),
                    height, width, "; ".join(f"{v}: {s}" for v, s in sorted(mixed.items())))


def load_frame_store(
    listing: VideoListing, cache_dir: Path, dataset: str, split: str, height: int, width: int
) -> FrameStore:
    """Open the cache for this exact source and resolution, building it first if it does not exist.

    The cache is written to a temporary name and renamed when complete, so an interrupted build never
    leaves a half-written cache; caches of other resolutions or older file lists are left untouched.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _source_key(listing, dataset, split, height, width)
    stem = f"{dataset}_{split}_{height}x{width}"
    data_path = cache_dir / f"{stem}_{key}.npy"
    meta_path = cache_dir / f"{stem}_{key}.json"
    lengths = listing.lengths
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    if data_path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            frames = np.load(data_path, mmap_mode="c")
        except (OSError, ValueError) as err:
            meta, frames = {}, None
            log.warning("frame cache %s is unreadable (%s)", data_path, err)
        if frames is not None and meta.get("names") == listing.names and meta.get("lengths") == lengths and (
            frames.shape == (offsets[-1], height, width)
        ):
            return FrameStore(frames, listing.names, offsets)
        log.warning("frame cache %s does not match its source; rebuilding it", data_path)
    stale = sorted(p.name for p in cache_dir.glob(f"{stem}_*.npy") if p != data_path)
    if stale:
        log.info("the frames of %s/%s differ from those cached in %s (kept); building a new cache", dataset,
                 split, stale[-1])
    files = [f for video in listing.files for f in video]
    tmp = data_path.with_name(f"{data_path.name}.partial-{os.getpid()}")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), height, width))
    try:
        _decode_into(out, files, height, width, f"caching {dataset}/{split} at {height}x{width}")
        out.flush()
        del out
        os.replace(tmp, data_path)
    finally:
        tmp.unlink(missing_ok=True)
    meta_path.write_text(json.dumps({"names": listing.names, "lengths": lengths,
                                     "source": str(listing.split_dir)}))
    return FrameStore(np.load(data_path, mmap_mode="c"), listing.names, offsets)
