"""Every Lightning callback: side outputs of a run, watching the batch path without changing it. Here, the
run's TensorBoard and the HParams table's columns (read back by :mod:`lnra.tools.hparams_table`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter

from lnra.pictures import png

if TYPE_CHECKING:
    from lnra.loading.batches import EvalBatch

METRICS = {"hparams/auc_last": "val/auc_micro", "hparams/auc_best": "val/auc_best",
           "hparams/best_epoch": "val/best_epoch"}  # the HParams table's metrics ← the logged values
COLUMNS = ("run", "dataset", "variant", "technique", "source", "alpha", "beta", "p", "jumps", "seed",
           "resolution", "precision", "epochs")  # a sweep's cell (lnra.run.results.run_hparams) first


def tensorboard(trainer: pl.Trainer) -> TensorBoardLogger | None:
    """The run's TensorBoard logger (on every rank), or None."""
    return next((logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)), None)


def board(trainer: pl.Trainer) -> SummaryWriter | None:
    """The run's TensorBoard writer on rank 0, else None; never during the sanity check."""
    logger = tensorboard(trainer)
    return logger.experiment if logger and trainer.is_global_zero and not trainer.sanity_checking else None


def add_png(writer: SummaryWriter, tag: str, image: np.ndarray, step: int, data: bytes | None = None) -> None:
    """An RGB image to TensorBoard as a PNG (``data``, if already encoded): ``add_image`` would convert it
    through floats and compress at PNG's default level, four times the cost of drawing a timeline."""
    encoded = Summary.Image(height=image.shape[0], width=image.shape[1], colorspace=3,
                            encoded_image_string=data or png(image))
    # as add_image writes: a writer Lightning closed after fit (file_writer None) is opened again
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=encoded)]), step)


def centre_frames(outputs: Any, batch: EvalBatch) -> tuple[torch.Tensor, torch.Tensor] | None:
    """An evaluation batch's centre frames and the step's reconstruction of them (B, 1, H, W), or None."""
    if not outputs or "recon_centre" not in outputs:
        return None
    return batch.clip[:, :, batch.videos.clip_len // 2], outputs["recon_centre"]
