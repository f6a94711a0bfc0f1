"""``checkpoint.every_epoch=true``: the weights of every epoch, kept so that any epoch can be re-scored
later (``task=test ckpt_path=<run>/checkpoints/epoch_NNN.ckpt``), as the paper's authors keep one
checkpoint per epoch. Weights only — no optimiser or loop state, which only ``last.ckpt`` needs for a
resume — each written atomically like the other checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from lnra.diskio import atomic_torch_save


def epoch_file(folder: Path, epoch: int) -> Path:
    return Path(folder) / f"epoch_{epoch:03d}.ckpt"


class EpochWeights(pl.Callback):
    """Writes ``<folder>/epoch_NNN.ckpt`` at the end of every training epoch (after its validation, so
    the file's history includes that epoch's AUC); on a distributed run rank 0 alone writes."""

    def __init__(self, enabled: bool = True, folder: str | Path | None = None) -> None:
        self.enabled = enabled
        self.folder = Path(folder) if folder is not None else None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """The folder defaults to ``<run dir>/checkpoints``; a smoke test (``fast_dev_run``) keeps none."""
        if self.folder is None:
            self.folder = Path(trainer.default_root_dir) / "checkpoints"
        if trainer.fast_dev_run:
            self.enabled = False

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        epoch = trainer.current_epoch
        weights = {"state_dict": pl_module.state_dict(), "epoch": epoch}
        pl_module.on_save_checkpoint(weights)  # the module's own entries: history, clip shape
        atomic_torch_save(weights, epoch_file(self.folder, epoch))
