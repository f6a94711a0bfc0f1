"""What the monitor callbacks share: finding the run's TensorBoard, and drawing labelled image grids."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
from PIL import Image, ImageDraw
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.tensorboard import SummaryWriter

LABEL_WIDTH = 150  # pixels of the text column left of each row
HEADER_PX = 18  # pixels of the column titles
GAP_PX = 2  # white between rows
MIN_PANEL = 96  # small frames are enlarged (nearest, by a whole factor) to at least this size


def has_board(trainer: pl.Trainer) -> bool:
    """True on every rank when the run logs to TensorBoard (ranks must agree: some views all-reduce)."""
    return any(isinstance(logger, TensorBoardLogger) for logger in trainer.loggers)


def board(trainer: pl.Trainer) -> SummaryWriter | None:
    """The run's TensorBoard writer on rank 0, else None; never during the sanity check."""
    if not trainer.is_global_zero or trainer.sanity_checking:
        return None
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def labelled_grid(rows: Sequence[np.ndarray], labels: Sequence[str], titles: Sequence[str]) -> np.ndarray:
    """Equal-size RGB rows of ``len(titles)`` panels each, stacked under the column titles, each with
    its text label on the left: one (H, W, 3) uint8 image whose panels TensorBoard shows at full size."""
    height, width = rows[0].shape[:2]
    factor = max(1, math.ceil(MIN_PANEL / height))
    panel_w = width * factor // len(titles)
    image = Image.new("RGB", (LABEL_WIDTH + width * factor,
                              HEADER_PX + len(rows) * (height * factor + GAP_PX)), "white")
    draw = ImageDraw.Draw(image)
    for i, title in enumerate(titles):
        draw.text((LABEL_WIDTH + i * panel_w + 4, 3), title, fill="black")
    for i, (row, label) in enumerate(zip(rows, labels, strict=True)):
        top = HEADER_PX + i * (height * factor + GAP_PX)
        big = row.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else row
        image.paste(Image.fromarray(np.ascontiguousarray(big)), (LABEL_WIDTH, top))
        draw.multiline_text((6, top + 4), label, fill="black", spacing=3)
    return np.asarray(image)


def grey(frame: np.ndarray) -> np.ndarray:
    """(H, W) uint8 → (H, W, 3), to sit beside colour error maps."""
    return np.repeat(frame[..., None], 3, axis=2)
