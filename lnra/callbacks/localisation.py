"""Pixel-level localisation metrics of a test (and, if asked, of every validation epoch).

A Lightning callback: it reads the reconstructed centre frames that ``test_step`` / ``validation_step``
already return (``recon_centre``) and the pixel masks every evaluation batch carries, so nothing is
reconstructed twice and nothing is asked of the dataset. For each batch it builds the error maps at the
ground-truth masks' resolution and feeds them to :class:`lnra.method.pixel_metrics.PixelLocalisation`
(the metrics and the reading of the UCSD criterion are described there). Datasets without
``testing/pixel_masks`` have no masks in their batches, and no metrics.

It measures the test, the last epoch's validation (which becomes the run's result when no training step
follows it) and, with ``validation=true``, every validation. The numbers are logged as ``test/pixel_*`` or
``val/pixel_*``; the run's history and ``results.json`` take them from there.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

import numpy as np
import pytorch_lightning as pl
import torch
from pydantic import Field

from lnra.config.options import checked
from lnra.config.types import Probability
from lnra.loading.batches import EvalBatch
from lnra.method.module import closing_pass
from lnra.method.pixel_metrics import DEFAULT_BINS, UCSD_MIN_FRACTION, PixelLocalisation, error_maps

log = logging.getLogger(__name__)


@checked
class LocalisationMetrics(pl.Callback):
    """Pixel AUROC and the UCSD pixel-level AUC/EER from the evaluation outputs (module docstring)."""

    def __init__(
        self,
        validation: Annotated[bool, Field(description="also after every validation epoch")] = False,
        sigma: Annotated[float, Field(ge=0, description="Gaussian smoothing of the error maps, in mask "
                                      "pixels")] = 0.0,
        bins: Annotated[int, Field(ge=2, description="thresholds of the streamed ROCs")] = DEFAULT_BINS,
        min_fraction: Annotated[Probability, Field(description="UCSD criterion: share of a frame's anomalous "
                                                   "pixels that must be flagged")] = UCSD_MIN_FRACTION,
    ) -> None:
        super().__init__()
        self.validation = validation
        self.sigma, self.bins, self.min_fraction = float(sigma), int(bins), float(min_fraction)
        self.seconds = 0.0  # time spent in the metrics during the last evaluation
        self._metric: PixelLocalisation | None = None

    def _measures(self, trainer: pl.Trainer) -> bool:
        return not trainer.sanity_checking and (trainer.testing or self.validation or closing_pass(trainer))

    def _start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds = 0.0
        self._metric = PixelLocalisation(self.bins, self.min_fraction).to(pl_module.device) \
            if self._measures(trainer) else None

    def _update(self, outputs: dict | None, batch: EvalBatch) -> None:
        if self._metric is None or batch.mask is None or not outputs or "recon_centre" not in outputs:
            return
        start = time.perf_counter()
        with torch.no_grad():
            frame = batch.clip[:, :, batch.videos.clip_len // 2]
            maps = error_maps(outputs["recon_centre"], frame, tuple(batch.mask.shape[-2:]), self.sigma)
            self._metric.update(maps, batch.mask)
        self.seconds += time.perf_counter() - start

    def _finish(self, pl_module: pl.LightningModule, prefix: str) -> None:
        if self._metric is None or not self._metric.frames_pos + self._metric.frames_neg:
            return
        start = time.perf_counter()
        results = self._metric.compute()
        self.seconds += time.perf_counter() - start
        for key, value in results.items():
            if value is not None and not np.isnan(value):
                pl_module.log(f"{prefix}/{key}", value, sync_dist=False)
        self._metric = None
        log.info("%s pixel metrics (%.1f s): %s", prefix, self.seconds,
                 ", ".join(f"{k} {v:.4f}" if v is not None else f"{k} n/a" for k, v in results.items()))

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start(trainer, pl_module)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start(trainer, pl_module)

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        self._update(outputs, batch)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        self._update(outputs, batch)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish(pl_module, "test")

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish(pl_module, "val")
