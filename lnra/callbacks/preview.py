"""See a pseudo-anomaly variant: a PNG grid of a few training clips as the model receives them.

Per clip three rows — the input, its target and ``|input - target|`` (where the pseudo anomaly is) —
at a few frames spread over the clip. Every clip is forced to one of the variant's enabled types in
turn, so a variant with p = 0.2 still shows its anomalies. ``python run.py task=preview pseudo=X``
writes ``pseudo_preview.png`` to the run directory (:func:`lnra.run.tasks.preview`);
:class:`PreviewLogger` logs the same image to TensorBoard when training starts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image, ImageDraw
from pytorch_lightning.loggers import TensorBoardLogger
from torchvision.utils import make_grid

from lnra.loading.datamodule import VideoDataModule
from lnra.pseudo import KIND_NORMAL, KIND_SKIP, PseudoAnomalies
from lnra.pseudo.selection import FIRST_PATCH_KIND

log = logging.getLogger(__name__)

PNG_NAME = "pseudo_preview.png"
LABEL_WIDTH = 170  # pixels of the label column
MIN_FRAME_SIDE = 96  # small frames are enlarged (nearest) to at least this size, to stay legible


@contextmanager
def _isolated_rng(seed: int) -> Iterator[None]:
    """Seeded draws that leave torch's and numpy's global generators as they were, so drawing a preview
    at the start of training does not change the run."""
    state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def _kinds(pseudo: PseudoAnomalies, n: int) -> tuple[torch.Tensor, list[str]]:
    """The enabled kinds, repeated to cover ``n`` clips (all normal for the baseline)."""
    enabled = ([KIND_SKIP] if pseudo.needs_skip_clips else []) + [
        FIRST_PATCH_KIND + j for j, patch in enumerate(pseudo.patches) if patch.p > 0]
    codes = [(enabled or [KIND_NORMAL])[i % max(len(enabled), 1)] for i in range(n)]
    return torch.tensor(codes), [pseudo.kind_names[c] for c in codes]


def preview_batch(datamodule: VideoDataModule, clips: int = 4, seed: int = 0,
                  ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(input, target) (n, 1, T, H, W) in [-1, 1] and the kind name of each of ``clips`` training clips,
    made by the DataModule's own loading and conversion with the kinds forced (frames gathered on the
    host, whatever the cache's place: a few clips do not justify uploading it)."""
    dataset = datamodule.train_clips(gather=True)
    with _isolated_rng(seed):
        picks = np.random.choice(len(dataset), size=clips, replace=len(dataset) < clips)
        starts = np.random.choice(len(dataset), size=clips, replace=len(dataset) < clips)
        seeds = np.random.randint(2**31, size=clips)
        items = zip(picks.tolist(), starts.tolist(), seeds.tolist(), strict=True)  # as ShuffledPairs gives
        kind, names = _kinds(datamodule.pseudo, clips)
        batch = datamodule.to_train_batch(dataset.__getitems__(list(items)), kind)
    return batch.input, batch.target, names


def render_grid(inputs: torch.Tensor, target: torch.Tensor, names: list[str], frames: int = 4) -> np.ndarray:
    """An RGB uint8 image (rows: input, target, |input - target| of each clip; columns: frames)."""
    t = inputs.shape[2]
    at = torch.linspace(0, t - 1, min(frames, t)).round().long()
    rows = []
    for x, y in zip(inputs, target, strict=True):
        rows += [(x[0, at] + 1) / 2, (y[0, at] + 1) / 2, (x[0, at] - y[0, at]).abs().clamp(max=1)]
    tiles = torch.cat(rows)[:, None].clamp(0, 1)
    scale = max(1, math.ceil(MIN_FRAME_SIDE / tiles.shape[-1]))
    tiles = tiles.repeat_interleave(scale, -2).repeat_interleave(scale, -1)
    grid = make_grid(tiles, nrow=len(at), padding=2, pad_value=1.0)
    pixels = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    image = Image.new("RGB", (pixels.shape[1] + LABEL_WIDTH, pixels.shape[0]), "white")
    image.paste(Image.fromarray(pixels), (LABEL_WIDTH, 0))
    draw = ImageDraw.Draw(image)
    row_height = (pixels.shape[0] - 2) / (3 * len(names))
    for i, name in enumerate(names):
        for j, what in enumerate(("input", "target", "|input - target|")):
            top = 2 + (3 * i + j) * row_height
            draw.text((6, top + row_height / 2 - 6), f"clip {i + 1} {name}: {what}" if j == 0 else what,
                      fill="black")
    return np.asarray(image)


def preview_image(datamodule: VideoDataModule, clips: int = 4, frames: int = 4, seed: int = 0) -> np.ndarray:
    inputs, target, names = preview_batch(datamodule, clips, seed)
    return render_grid(inputs, target, names, frames)


class PreviewLogger(pl.Callback):
    """Logs the preview grid to TensorBoard (``pseudo/preview``) once, when training starts."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule
        boards = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if not (trainer.is_global_zero and boards and isinstance(datamodule, VideoDataModule)
                and datamodule.pseudo.enabled):
            return
        image = preview_image(datamodule, seed=self.seed)
        for board in boards:
            board.experiment.add_image("pseudo/preview", image, global_step=0, dataformats="HWC")
