"""Video files (``.avi``, ``.mp4``, …), read frame by frame with OpenCV's ``cv2.VideoCapture``: the one
video reader, as :func:`lnra.data.frames.read_frame` is the one image reader. ``python -m
lnra.data.prepare`` converts the releases' videos with it and ``lnra.tools.detect`` scores the user's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lnra.errors import LnraError


@dataclass
class VideoFile:
    """The frames of one video (RGB uint8, read lazily) and its frame rate if the file says."""

    frames: Iterator[np.ndarray]
    fps: float | None


def open_video(path: Path) -> VideoFile:
    """Open ``path`` now (a file OpenCV cannot open is refused here, naming it); its frames are decoded as
    they are taken and counted as decoded, not taken from the header — a truncated file ends early,
    which the frame-count checks against the ground truth then report."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
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
