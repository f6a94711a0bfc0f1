"""The run's TensorBoard, for every callback that draws into it."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.tensorboard import SummaryWriter


def tensorboard(trainer: pl.Trainer) -> TensorBoardLogger | None:
    """The run's TensorBoard logger (on every rank), or None."""
    return next((logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)), None)


def board(trainer: pl.Trainer) -> SummaryWriter | None:
    """The run's TensorBoard writer on rank 0, else None; never during the sanity check."""
    logger = tensorboard(trainer)
    if logger is None or not trainer.is_global_zero or trainer.sanity_checking:
        return None
    return logger.experiment
