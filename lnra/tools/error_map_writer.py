"""Per-frame pixel errors of ``lnra.tools.detect`` for the user's own footage: heat-map images and a
thresholded mask video, both at the input's own resolution.

The maps are the ones the pixel-level metrics use (:mod:`lnra.method.pixel_metrics`): the centre frame's
squared error ``(recon − input)²`` in [-1, 1] units, upsampled bilinearly from the model's resolution
to the input's (and smoothed if asked). A pixel of the mask video is white where that error reaches
``--pixel-threshold`` — the same units as the thresholds swept by the pixel-level ROC, so a threshold
read off a test run's ROC carries over. Outputs appear under their final names only when complete.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import numpy as np
import torch
from PIL import Image

from lnra.diskio import atomic_dir, atomic_path
from lnra.method.pixel_metrics import upsample_errors
from lnra.pictures import ErrorColours


class ErrorMapWriter:
    """Writes ``error_maps/<frame>.png`` and/or ``mask.mp4`` frame by frame (a context manager)."""

    def __init__(self, size: tuple[int, int], maps_dir: Path | None = None, mask_path: Path | None = None,
                 pixel_threshold: float | None = None, fps: float = 25.0, sigma: float = 0.0,
                 colours: ErrorColours | None = None) -> None:
        if mask_path is not None and pixel_threshold is None:
            raise ValueError("a mask video needs a pixel threshold")
        self.size, self.sigma, self.fps = size, sigma, fps
        self.maps_dir, self.mask_path, self.pixel_threshold = maps_dir, mask_path, pixel_threshold
        self.colours = colours or ErrorColours()
        self._outputs = ExitStack()  # each output renamed into place when the block succeeds
        self._maps_tmp: Path | None = None
        self._video = None

    def __enter__(self) -> ErrorMapWriter:
        import imageio.v2 as imageio

        with ExitStack() as opening:
            opening.enter_context(self._outputs)  # a failure while opening discards what was opened
            if self.maps_dir is not None:
                self._maps_tmp = self._outputs.enter_context(atomic_dir(self.maps_dir))
            if self.mask_path is not None:
                mask_tmp = self._outputs.enter_context(atomic_path(self.mask_path))
                self._video = imageio.get_writer(mask_tmp, format="FFMPEG", mode="I", fps=self.fps,
                                                 codec="libx264", quality=8, macro_block_size=2,
                                                 ffmpeg_log_level="error")
                self._outputs.callback(self._video.close)  # before the rename
            opening.pop_all()
        return self

    def add(self, frame: int, error: np.ndarray) -> None:
        """One scored frame's (h, w) squared error at the model's resolution."""
        up = upsample_errors(torch.from_numpy(np.asarray(error, np.float32))[None, None], self.size,
                             self.sigma)[0].numpy()
        if self._maps_tmp is not None:
            level = np.minimum(np.sqrt(up) * 127.5 * self.colours.scale, 255).astype(np.uint8)
            Image.fromarray(self.colours.lut[level]).save(self._maps_tmp / f"{frame:06d}.png",
                                                          compress_level=1)
        if self._video is not None:
            flagged = np.where(up >= self.pixel_threshold, 255, 0).astype(np.uint8)
            self._video.append_data(np.repeat(flagged[..., None], 3, axis=2))

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._outputs.__exit__(kind, error, trace)
