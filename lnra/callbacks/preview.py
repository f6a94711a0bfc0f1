"""See a pseudo-anomaly variant (``task=preview``, ``PreviewLogger``): a few training clips as the model
receives them, each forced to one of the enabled kinds in turn, so that p = 0.2 still shows anomalies."""

from __future__ import annotations

import numpy as np
import torch

from lnra.callbacks.checkpoints import isolated_rng
from lnra.loading.datamodule import VideoDataModule
from lnra.pictures import grey, labelled_grid
from lnra.pseudo.kinds import KIND_NORMAL

PNG_NAME = "pseudo_preview.png"
LABEL_WIDTH = 170  # pixels of the label column
PreviewBatch = tuple[torch.Tensor, torch.Tensor, list[str]]


def preview_batch(datamodule: VideoDataModule, clips: int = 4, seed: int = 0) -> PreviewBatch:
    """(input, target) (n, 1, T, H, W) in [-1, 1] and the kind of ``clips`` training clips, made by the
    DataModule's own loading with the kinds forced (frames gathered on the host: a few clips)."""
    dataset = datamodule.train_clips(gather=True)
    enabled = datamodule.pseudo.enabled_kinds or [KIND_NORMAL]  # all normal for the baseline
    codes = [enabled[i % len(enabled)] for i in range(clips)]
    with isolated_rng(seed):
        picks = np.random.choice(len(dataset), size=clips, replace=len(dataset) < clips)
        starts = np.random.choice(len(dataset), size=clips, replace=len(dataset) < clips)
        seeds = np.random.randint(2**31, size=clips)
        items = zip(picks.tolist(), starts.tolist(), seeds.tolist(), strict=True)  # as ShuffledPairs gives
        batch = datamodule.to_train_batch(dataset.__getitems__(list(items)), torch.tensor(codes))
    return batch.input, batch.target, [batch.kind_names[c] for c in codes]


def render_grid(inputs: torch.Tensor, target: torch.Tensor, names: list[str], frames: int = 4) -> np.ndarray:
    """An RGB uint8 image: per clip the rows input, target and |input - target|; columns: frames."""
    t = inputs.shape[2]
    at = torch.linspace(0, t - 1, min(frames, t)).round().long()
    rows, labels = [], []
    for i, (x, y, name) in enumerate(zip(inputs, target, names, strict=True)):
        for what, image in (("input", (x[0, at] + 1) / 2), ("target", (y[0, at] + 1) / 2),
                            ("|input - target|", (x[0, at] - y[0, at]).abs().clamp(max=1))):
            tiles = (image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
            rows.append(grey(np.concatenate(list(tiles), axis=1)))
            labels.append(f"clip {i + 1} {name}: {what}" if what == "input" else what)
    titles = [f"frame {int(f)}" for f in at]
    return labelled_grid(rows, labels, titles, label_width=LABEL_WIDTH)  # small frames enlarged to 96 pixels
