"""Pixel-level localisation metrics of a test (and, if asked, of every validation epoch).

From the reconstructed centre frames that the evaluation steps already return (``recon_centre``) and the
pixel masks every evaluation batch carries, so nothing is reconstructed twice and nothing is asked of the
dataset, each batch's error maps are built at the masks' resolution and fed to
:class:`lnra.method.pixel_metrics.PixelLocalisation` (which describes the metrics and the UCSD criterion).
Datasets without ``testing/pixel_masks`` have no masks, and no metrics. It measures the test, the last
epoch's validation (the run's result when no training step follows) and, with ``validation=true``, every
validation, logged as ``test/pixel_*`` or ``val/pixel_*``, where the history and ``results.json`` find them.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

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

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds = 0.0
        self._metric = None
        if closing_pass(trainer) or (self.validation and not trainer.sanity_checking):
            self._metric = PixelLocalisation(self.bins, self.min_fraction).to(pl_module.device)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: EvalBatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._metric is None or batch.mask is None or not outputs or "recon_centre" not in outputs:
            return
        start = time.perf_counter()
        with torch.no_grad():
            frame = batch.clip[:, :, batch.videos.clip_len // 2]
            maps = error_maps(outputs["recon_centre"], frame, tuple(batch.mask.shape[-2:]), self.sigma)
            self._metric.update(maps, batch.mask)
        self.seconds += time.perf_counter() - start

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._metric is None or not self._metric.frames_pos + self._metric.frames_neg:
            return
        start = time.perf_counter()
        results = self._metric.compute()
        self.seconds += time.perf_counter() - start
        prefix = "test" if trainer.testing else "val"
        for key, value in results.items():
            if value is not None and not np.isnan(value):
                pl_module.log(f"{prefix}/{key}", value, sync_dist=False)
        self._metric = None
        log.info("%s pixel metrics (%.1f s): %s", prefix, self.seconds,
                 ", ".join(f"{k} {v:.4f}" if v is not None else f"{k} n/a" for k, v in results.items()))

    on_test_epoch_start, on_test_batch_end = on_validation_epoch_start, on_validation_batch_end
    on_test_epoch_end = on_validation_epoch_end
