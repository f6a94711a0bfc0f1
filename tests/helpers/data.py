"""Small videos in the on-disk layout, written by the data tests (frames encode where they come from)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def marked_video(video: int, length: int, size: int = 16) -> np.ndarray:
    """(length, size, size) uint8 frames whose pixel (0, 0) is the video number and (0, 1) the position,
    so a clip read back names its source frames; the rest is a flat grey of ``10 * video``."""
    frames = np.full((length, size, size), 10 * video, np.uint8)
    frames[:, 0, 0] = video
    frames[:, 0, 1] = np.arange(length)
    return frames


def write_video(folder: Path, frames: np.ndarray, names: list[str] | None = None) -> list[Path]:
    """Write frames losslessly as PNG (names default to 000.png, 001.png, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"{t:03d}.png" for t in range(len(frames))]
    paths = [folder / name for name in names]
    for path, frame in zip(paths, frames, strict=True):
        Image.fromarray(frame).save(path)
    return paths


def write_dataset(root: Path, train: list[int], test: list[int], size: int = 16) -> None:
    """``root/{training,testing}/frames/NN/`` with marked videos of the given lengths."""
    for split, lengths in (("training", train), ("testing", test)):
        for v, length in enumerate(lengths, start=1):
            write_video(root / split / "frames" / f"{v:02d}", marked_video(v, length, size))


def write_stub_videos(split_dir: Path, lengths: list[int], names: list[str]) -> None:
    """Many videos fast: every frame is the same tiny encoded JPEG, written as bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(buffer, format="JPEG")
    data = buffer.getvalue()
    for name, length in zip(names, lengths, strict=True):
        folder = split_dir / name
        folder.mkdir(parents=True)
        for t in range(length):
            (folder / f"{t:04d}.jpg").write_bytes(data)
