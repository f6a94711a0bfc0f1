"""Fixed pseudo-anomalous training clips, per validation epoch: input | target | reconstruction | error.

The method's promise made visible: the pasted patch (or the skipped frames) is *not* reconstructed, the
reconstruction follows the normal target. The clips are the ones of ``pseudo/preview`` (same seed, each
forced to one enabled kind through ``PseudoAnomalies.apply``), drawn once when training starts and
reconstructed at the end of every validation, in eval mode (BatchNorm uses, and does not update, its
running statistics) without gradients: a handful of clips, cheap next to scoring the test set.
"""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch

from lnra.callbacks.monitor.board import board, grey, has_board, labelled_grid
from lnra.callbacks.preview import preview_batch
from lnra.loading.datamodule import VideoDataModule
from lnra.method.scoring import centre_index
from lnra.pictures import ErrorColours, to_uint8

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


class PseudoClipImages(pl.Callback):
    """Logs ``images/pseudo_clips`` at every validation epoch; see the module docstring."""

    def __init__(self, clips: int, colours: ErrorColours, seed: int = 0) -> None:
        self.clips, self.colours, self.seed = clips, colours, seed
        self._batch: tuple[torch.Tensor, torch.Tensor, list[str]] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule
        self._batch = None
        if (trainer.is_global_zero and has_board(trainer) and isinstance(datamodule, VideoDataModule)
                and datamodule.pseudo.enabled):
            self._batch = preview_batch(datamodule, self.clips, self.seed)

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
