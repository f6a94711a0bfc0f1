"""One evaluation pass's window scores, gathered over ranks and de-duplicated (a distributed sampler pads)."""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from lnra.data.labels import TestVideos
from lnra.data.pixels import window_count
from lnra.errors import LnraError
from lnra.loading.batches import window_key
from lnra.method.scoring import Evaluation, evaluate


class IncompleteScoresError(LnraError):
    """The pass scored only part of the test windows (``trainer.limit_*_batches``, ``fast_dev_run``)."""


class WindowScores(Metric):
    """Window PSNRs of one ``stage`` (``val`` or ``test``); see the module docstring."""

    full_state_update = False

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage = stage
        self.videos: TestVideos | None = None
        for name in ("psnr", "video", "window"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, psnr: torch.Tensor, video: torch.Tensor, window: torch.Tensor,
               videos: TestVideos) -> None:
        """Add scored windows: their PSNR, video index and window index into ``videos``."""
        self.videos = videos
        self.psnr.append(psnr.detach())
        self.video.append(video.detach())
        self.window.append(window.detach())

    def per_video(self) -> list[np.ndarray]:
        """Each window's score once (every rank's, once synced), per video in window order."""
        if not len(self.psnr):
            return [np.zeros(0, np.float32) for _ in (self.videos.names if self.videos else ())]
        psnr, video, window = (dim_zero_cat(x) for x in (self.psnr, self.video, self.window))
        key, first = np.unique(window_key(video, window).cpu().numpy(), return_index=True)
        psnr = psnr.float().cpu().numpy()[first]
        video = (key >> 32).astype(np.int64)
        return [psnr[video == v] for v in range(len(self.videos.names))]

    def compute(self) -> Evaluation:
        """The AUCs over every test window; :class:`IncompleteScoresError` when some were not scored."""
        psnr = self.per_video()
        seen = sum(len(p) for p in psnr)
        expected = sum(window_count(len(labels), self.videos.clip_len) for labels in self.videos.labels) \
            if self.videos else "?"
        if seen != expected:
            raise IncompleteScoresError(
                f"{self.stage} scored {seen} of the {expected} test windows: the AUC is defined over "
                f"every window; remove trainer.limit_{self.stage}_batches")
        return evaluate(psnr, self.videos, self.videos.clip_len)
