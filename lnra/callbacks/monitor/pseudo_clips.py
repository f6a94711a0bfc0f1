"""Fixed pseudo-anomalous training clips, per validation epoch: input | target | reconstruction | error.

The method's promise made visible: the pasted patch (or the skipped frames) is *not* reconstructed, the
reconstruction follows the normal target. The clips are the ones of ``pseudo/preview`` (same seed, each
forced to one enabled kind through ``PseudoAnomalies.apply``), drawn once when training starts and
reconstructed at the end of every validation, in eval mode (BatchNorm uses, and does not update, its
running statistics) without gradients: a handful of clips, cheap next to scoring the test set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import numpy as np
import pytorch_lightning as pl
import torch
from pydantic import Field

from lnra.callbacks.monitor.board import board
from lnra.callbacks.preview import PreviewBatch, shows_anomalies
from lnra.config.options import checked
from lnra.config.types import NonNegative, Seed
from lnra.method.scoring import centre_index
from lnra.pictures import Colormap, ErrorColours, ErrorMax, grey, labelled_grid, to_uint8

TAG = "images/pseudo_clips"
TITLES = ("input", "target", "reconstruction", "error vs input")


@torch.no_grad()
def reconstruct(module: pl.LightningModule, clips: torch.Tensor) -> torch.Tensor:
    """The module's reconstruction of ``clips`` in eval mode, leaving its train/eval mode as it was."""
    was_training = module.training
    module.eval()
    try:
        return module(clips.to(module.device)).float().cpu()
    finally:
        module.train(was_training)


@checked
@checked
class PseudoClipImages(pl.Callback):
    """Logs ``images/pseudo_clips`` at every validation epoch; see the module docstring."""

    def __init__(self, preview: Callable[..., PreviewBatch],
                 clips: Annotated[NonNegative, Field(description="fixed pseudo-anomalous clips shown")] = 4,
                 seed: Annotated[Seed, Field(description="which clips are shown")] = 0,
                 error_max: ErrorMax = 0.5, colormap: Colormap = "inferno") -> None:
        self.preview, self.clips, self.seed = preview, clips, seed
        self.colours = ErrorColours(colormap, error_max)
        self._batch: PreviewBatch | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._batch = None
        if self.clips and board(trainer) is not None:
            batch = self.preview(self.clips, self.seed)
            self._batch = batch if shows_anomalies(batch) else None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = board(trainer)
        if writer is None or self._batch is None:
            return
        inputs, target, names = self._batch
        c = centre_index(inputs.shape[2])
        recon = reconstruct(pl_module, inputs)
        x, y, r = (to_uint8(t[:, 0, c]) for t in (inputs, target, recon))
        rows = [np.concatenate([grey(a), grey(b), grey(d), self.colours(a, d)], axis=1)
                for a, b, d in zip(x, y, r, strict=True)]
        labels = [f"clip {i + 1}\n{name}\ncentre frame {c}" for i, name in enumerate(names)]
        writer.add_image(TAG, labelled_grid(rows, labels, TITLES), trainer.current_epoch, dataformats="HWC")
