"""Health, per epoch: the learning rate and (on a GPU) peak memory.

The speeds (training clips/s, scoring windows/s) are the throughput timer's
(:mod:`lnra.callbacks.throughput`, ``throughput/*`` in every logger): one clock for the package.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from lnra.callbacks.monitor.board import board

TAGS = {"lr": "health/learning_rate", "memory": "health/peak_gpu_memory_gib"}


class HealthMonitor(pl.Callback):
    """Logs the ``health/`` scalars at the end of every training epoch, with the epoch as step."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = board(trainer)
        if writer is None:
            return
        values = {"lr": trainer.optimizers[0].param_groups[0]["lr"]}
        if pl_module.device.type == "cuda":
            values["memory"] = torch.cuda.max_memory_allocated(pl_module.device) / 2**30
        for key, value in values.items():
            writer.add_scalar(TAGS[key], value, trainer.current_epoch)
