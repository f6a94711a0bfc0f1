"""Pixel-level localisation metrics of a test (and, if asked, of every validation epoch).

A Lightning callback: it reads the reconstructed centre frames that ``test_step`` / ``validation_step``
already return (``recon_centre``), so nothing is reconstructed twice and the module does not change.
For each batch it builds the error maps at the ground-truth masks' resolution and feeds them, with
the masks of the scored frames, to :class:`lnra.method.pixel_metrics.PixelLocalisation` (the metrics and
the reading of the UCSD criterion are described there). Datasets without ``testing/pixel_masks``
get None for every metric.

Where the numbers go: ``test/pixel_*`` and ``val/pixel_*`` in the experiment logger (TensorBoard),
:attr:`last_test` for ``results.json``, and, at validation, the epoch's entry of the module's history.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pytorch_lightning as pl
import torch

from lnra.data.pixel_masks import MaskStore
from lnra.errors import LnraError
from lnra.loading.batches import EvalBatch
from lnra.method.pixel_metrics import DEFAULT_BINS, UCSD_MIN_FRACTION, PixelLocalisation, error_maps
from lnra.method.scoring import centre_index

log = logging.getLogger(__name__)

PIXEL_KEYS = ("pixel_auroc", "pixel_ucsd_auc", "pixel_ucsd_eer")


def empty_results() -> dict[str, float | None]:
    """The metrics of a dataset without pixel masks: every key present, every value None."""
    return dict.fromkeys(PIXEL_KEYS)


def batch_masks(store: MaskStore, video: torch.Tensor, window: torch.Tensor, clip_len: int,
                device: torch.device) -> torch.Tensor:
    """(B, H, W) bool masks of the centre frames of a batch of test windows (their video and window)."""
    frames = window.cpu().numpy() + centre_index(clip_len)
    index = store.frame_index(video.cpu().numpy(), frames)
    return torch.from_numpy(store.masks(index)).to(device)


class LocalisationMetrics(pl.Callback):
    """Pixel AUROC and the UCSD pixel-level AUC/EER from the test (and optionally validation) outputs."""

    def __init__(self, enabled: bool = True, validation: bool = False, sigma: float = 0.0,
                 bins: int = DEFAULT_BINS, min_fraction: float = UCSD_MIN_FRACTION) -> None:
        super().__init__()
        if sigma < 0:
            raise LnraError(f"localisation.sigma must be >= 0, got {sigma}")
        self.enabled, self.validation = enabled, validation
        self.sigma, self.bins, self.min_fraction = float(sigma), int(bins), float(min_fraction)
        self.last_test: dict[str, float | None] = empty_results()
        self.seconds = 0.0  # time spent in the metrics during the last evaluation
        self._metric: PixelLocalisation | None = None
        self._store: MaskStore | None = None
        self._pending: dict[str, float | None] | None = None

    def settings(self) -> dict[str, float | int]:
        """What the numbers depend on, for ``results.json``."""
        return {"pixel_sigma": self.sigma, "pixel_bins": self.bins, "pixel_min_fraction": self.min_fraction}

    # -- one evaluation pass ------------------------------------------------------------------------
    def _start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._metric, self.seconds = None, 0.0
        datamodule = trainer.datamodule
        has_masks = self.enabled and hasattr(datamodule, "pixel_masks")
        self._store = datamodule.pixel_masks() if has_masks else None
        if self._store is not None:
            self._metric = PixelLocalisation(self.bins, self.min_fraction).to(pl_module.device)

    def _update(self, pl_module: pl.LightningModule, outputs, batch: EvalBatch) -> None:
        if self._metric is None or not outputs or "recon_centre" not in outputs:
            return
        start = time.perf_counter()
        c = centre_index(pl_module.clip_len)
        with torch.no_grad():
            maps = error_maps(outputs["recon_centre"], batch.clip[:, :, c],
                              (self._store.height, self._store.width), self.sigma)
            masks = batch_masks(self._store, batch.video, batch.window, pl_module.clip_len, maps.device)
            self._metric.update(maps, masks)
        self.seconds += time.perf_counter() - start

    def _finish(self, pl_module: pl.LightningModule, prefix: str) -> dict[str, float | None]:
        if self._metric is None:
            return empty_results()
        start = time.perf_counter()
        results = self._metric.compute()
        self.seconds += time.perf_counter() - start
        for key, value in results.items():
            if value is not None and not np.isnan(value):
                pl_module.log(f"{prefix}/{key}", value, sync_dist=False)
        self._metric = None
        log.info("%s pixel metrics (%.1f s): %s", prefix, self.seconds,
                 ", ".join(f"{k} {v:.4f}" if v is not None else f"{k} n/a" for k, v in results.items()))
        return results

    # -- test -----------------------------------------------------------------------------------------
    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start(trainer, pl_module)

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        self._update(pl_module, outputs, batch)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.last_test = self._finish(pl_module, "test")

    # -- validation (``localisation.validation=true``) ------------------------------------------------
    def _validating(self, trainer: pl.Trainer) -> bool:
        return self.validation and not trainer.sanity_checking

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._validating(trainer):
            self._start(trainer, pl_module)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._validating(trainer):
            self._update(pl_module, outputs, batch)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._validating(trainer) and self._metric is not None:
            self._pending = self._finish(pl_module, "val")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The module appends the epoch's history entry after the callbacks' epoch end; add ours to it
        here, before the checkpoint callback (which Lightning runs last) saves the history."""
        history = getattr(pl_module, "history", None)
        if self._pending is not None and history and history[-1].get("epoch") == pl_module.current_epoch:
            history[-1].update(self._pending)
        self._pending = None


def pixel_results(trainer: pl.Trainer) -> dict[str, float | int | None]:
    """The last test's pixel metrics and their settings for ``results.json``; None values when the
    callback is off or the dataset has no masks."""
    callback = next((c for c in trainer.callbacks if isinstance(c, LocalisationMetrics)), None)
    if callback is None:
        return empty_results()
    return {**callback.last_test, **callback.settings()}
