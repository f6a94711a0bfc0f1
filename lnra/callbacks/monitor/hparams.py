"""One row per run in TensorBoard's HParams table, so a sweep shows as one sortable table.

The run's settings (dataset, variant, technique, source, α, β, p, jumps, seed, resolution, precision,
epochs and the run directory's name — a sweep's cell; :func:`lnra.run.results.run_hparams`) are given to
Lightning's ``TensorBoardLogger.log_hyperparams`` when training starts, with the metric tags declared; the
metrics themselves (last and best validation micro AUC, best epoch: the module's logged ``val/*`` values)
are scalars updated at every validation epoch, so the table of a running sweep is always current.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from lnra.callbacks.monitor.board import board, tensorboard

METRICS = {"hparams/auc_last": "val/auc_micro", "hparams/auc_best": "val/auc_best",
           "hparams/best_epoch": "val/best_epoch"}  # the HParams table's columns ← the logged values
COLUMNS = ("run", "dataset", "variant", "technique", "source", "alpha", "beta", "p", "jumps", "seed",
           "resolution", "precision", "epochs")


class HParamsLogger(pl.Callback):
    """Writes the HParams session when training starts and its metrics after every validation."""

    def __init__(self, hparams: dict[str, Any]) -> None:
        self.hparams = hparams

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logger = tensorboard(trainer)
        if logger is not None:
            values = {**self.hparams, "precision": str(trainer.precision), "epochs": int(trainer.max_epochs)}
            logger.log_hyperparams(values, metrics=dict.fromkeys(METRICS, 0.0))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer, logged = board(trainer), trainer.callback_metrics
        if writer is None or not all(key in logged for key in METRICS.values()):
            return
        for tag, key in METRICS.items():
            writer.add_scalar(tag, float(logged[key]), trainer.current_epoch)
