"""The run's checkpoint callback: ``best.ckpt`` by validation AUC and a ``last.ckpt`` to resume from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class LastEveryValidation(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` is written after every validation, improved or not.

    Lightning 2.x writes ``last.ckpt`` (``save_last=True``) only when a top-k checkpoint was saved in the
    same step, i.e. only when the monitored AUC improved: a run killed after epochs that did not improve
    would resume from an older epoch and train them again. The state key stays Lightning's own, so
    checkpoints written before (by ``ModelCheckpoint``) resume with their best-AUC tracking.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Without a ``dirpath``, checkpoints go to ``<run dir>/checkpoints`` (the trainer's
        ``default_root_dir``), not under the logger's folder as Lightning's default would put them."""
        if self.dirpath is None:
            self.dirpath = str(Path(trainer.default_root_dir) / "checkpoints")
        super().setup(trainer, pl_module, stage)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):  # validation ran in this epoch's last step
            self._save_last_if_skipped(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_skipped(trainer)

    def _save_last_if_skipped(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` unless Lightning saved at this step (it then wrote ``last.ckpt`` too)."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _generate_state_key(self, **kwargs: Any) -> str:
        return f"ModelCheckpoint{kwargs!r}"
