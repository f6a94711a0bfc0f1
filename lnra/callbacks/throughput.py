"""How fast a run goes: training clips/s and scoring windows/s, the figures a user compares between
machines, precisions and data paths (anomalib's timer callback reports the same for its models).

One clock for every speed the package shows: the progress lines' clips/s and ``summary.md``'s training
speed are read from here (the TensorBoard health views no longer time anything; the progress lines still
time an epoch's parts for their ETA). Each phase is timed between hooks with one device
sync at each end, never per batch: training from an epoch's start to the start of its validation (or the
epoch's end), validation and test over their scoring batches. Counts are this process's samples times
the number of processes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

import pytorch_lightning as pl
import torch

log = logging.getLogger(__name__)
RUN_LOG_ONLY = {"file_only": True}  # the console filter (lnra.run.console) keeps these lines for run.log


def clips_in(batch: Any) -> int:
    """Samples in a batch (a dataclass, dict, sequence or tensor): the first dimension of its first tensor."""
    if dataclasses.is_dataclass(batch):
        values = [getattr(batch, f.name) for f in dataclasses.fields(batch)]
    elif isinstance(batch, dict):
        values = list(batch.values())
    else:
        values = list(batch) if isinstance(batch, list | tuple) else [batch]
    return next((int(v.shape[0]) for v in values if isinstance(v, torch.Tensor) and v.dim()), 0)


def find_timer(trainer: pl.Trainer) -> ThroughputTimer | None:
    """The run's timer, for the progress lines and the summary (None when ``~callbacks.throughput``)."""
    return next((c for c in trainer.callbacks if isinstance(c, ThroughputTimer)), None)


def _now(module: pl.LightningModule) -> float:
    if module.device.type == "cuda":
        torch.cuda.synchronize(module.device)
    return time.perf_counter()


@dataclasses.dataclass
class _Phase:
    """Samples and seconds of one loop (training, validation or test), for the current epoch and in total."""

    samples: int = 0
    seconds: float | None = None
    total_samples: int = 0
    total_seconds: float = 0.0
    started: float = 0.0

    def start(self, now: float) -> None:
        self.samples, self.seconds, self.started = 0, None, now

    def count(self, samples: int) -> None:
        """Samples of a finished batch; none once the phase stopped (training after a mid-epoch validation,
        ``val_check_interval`` < 1, is outside the clock and so outside the count)."""
        if self.seconds is None:
            self.samples += samples

    def stop(self, now: float) -> None:
        if self.seconds is None:
            self.seconds = now - self.started
            self.total_samples += self.samples
            self.total_seconds += self.seconds

    @property
    def rate(self) -> float:
        """This epoch's samples per second (NaN before the phase stopped)."""
        return self.samples / self.seconds if self.seconds else math.nan

    def running_rate(self, now: float) -> float:
        """This epoch's samples per second so far (the phase still running), for progress lines."""
        return self.samples / (now - self.started) if now > self.started else math.nan

    @property
    def total_rate(self) -> float:
        return self.total_samples / self.total_seconds if self.total_seconds else math.nan


class ThroughputTimer(pl.Callback):
    """Logs ``throughput/train_clips_per_s`` (every training epoch), ``throughput/val_windows_per_s`` and
    ``throughput/test_windows_per_s`` to every logger, and says the totals when fitting and testing end."""

    def __init__(self) -> None:
        self.train, self.val, self.test = _Phase(), _Phase(), _Phase()

    def _ranks(self, trainer: pl.Trainer) -> int:
        return max(1, trainer.world_size)

    # -- training -------------------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.train.start(_now(pl_module))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.train.count(clips_in(batch) * self._ranks(trainer))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.train.stop(_now(pl_module))
        pl_module.log("throughput/train_clips_per_s", self.train.rate, sync_dist=False)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and self.train.total_samples:
            train = self.train
            log.info("training: %d clips in %.1f s of training epochs, %.1f clips/s", train.total_samples,
                     train.total_seconds, train.total_rate, extra=RUN_LOG_ONLY)

    # -- evaluation -----------------------------------------------------------------------------
    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        now = _now(pl_module)
        if trainer.state.fn == "fit":
            self.train.stop(now)  # validation inside a training epoch: the training clock stops here
        self.val.start(now)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.val.count(clips_in(batch) * self._ranks(trainer))

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.val.stop(_now(pl_module))
        pl_module.log("throughput/val_windows_per_s", self.val.rate, sync_dist=False)

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.test.start(_now(pl_module))

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        self.test.count(clips_in(batch) * self._ranks(trainer))

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.test.stop(_now(pl_module))
        pl_module.log("throughput/test_windows_per_s", self.test.rate, sync_dist=False)
        if trainer.is_global_zero:
            log.info("test: %d windows scored in %.1f s, %.1f windows/s", self.test.samples,
                     self.test.seconds, self.test.rate, extra=RUN_LOG_ONLY)
