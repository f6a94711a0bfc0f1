"""Health, per epoch: learning rate, training clips/s, validation windows/s and (on a GPU) peak memory.

Throughput is measured between hooks with one device sync at each end, never per batch: training from
the epoch's start to the start of its validation (or the epoch's end), validation over the scoring
batches (before the AUC is computed). Counts are this process's samples times the number of processes.
"""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch

from lnra.callbacks.monitor.board import board

TAGS = {"lr": "health/learning_rate", "train": "health/train_clips_per_s",
        "val": "health/val_windows_per_s", "memory": "health/peak_gpu_memory_gib"}


def _now(module: pl.LightningModule) -> float:
    if module.device.type == "cuda":
        torch.cuda.synchronize(module.device)
    return time.perf_counter()


class HealthMonitor(pl.Callback):
    """Logs the ``health/`` scalars at the end of every training epoch, with the epoch as step."""

    def __init__(self) -> None:
        self._start = self._val_start = 0.0
        self._train_s: float | None = None
        self._val_s: float | None = None
        self._clips = self._windows = 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)
        self._train_s = self._val_s = None
        self._clips = 0
        self._start = _now(pl_module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        self._clips += len(batch.input)

    def _stop_training_clock(self, pl_module: pl.LightningModule) -> None:
        if self._train_s is None:
            self._train_s = _now(pl_module) - self._start

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._stop_training_clock(pl_module)
        self._windows = 0
        self._val_start = _now(pl_module)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        self._windows += len(batch.clip)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val_s = _now(pl_module) - self._val_start

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop_training_clock(pl_module)
        writer = board(trainer)
        if writer is None:
            return
        step, ranks = trainer.current_epoch, trainer.world_size
        values = {"lr": trainer.optimizers[0].param_groups[0]["lr"],
                  "train": ranks * self._clips / max(self._train_s, 1e-9)}
        if self._val_s is not None:
            values["val"] = ranks * self._windows / max(self._val_s, 1e-9)
        if pl_module.device.type == "cuda":
            values["memory"] = torch.cuda.max_memory_allocated(pl_module.device) / 2**30
        for key, value in values.items():
            writer.add_scalar(TAGS[key], value, step)
