"""Fixed test windows, per validation epoch: input | reconstruction | error map of the centre frame.

The windows are chosen once per run from the labels (half anomalous, half normal, spread over as many
test videos as possible), so TensorBoard's step slider shows the same frames epoch after epoch and the
error concentrating on the anomalies. The frames come from the validation pass itself: each batch's
centre frames and the ``recon_centre`` that ``validation_step`` returns are matched against the chosen
windows without a host sync (a one-hot product), and the matches are summed over ranks at epoch end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import numpy as np
import pytorch_lightning as pl
import torch
from pydantic import Field

from lnra.callbacks.monitor.board import board, tensorboard
from lnra.config.options import checked
from lnra.config.types import NonNegative
from lnra.loading.batches import EvalBatch, window_key
from lnra.method.scoring import scored_labels
from lnra.pictures import Colormap, ErrorColours, ErrorMax, labelled_grid, panel_row, to_uint8

TAG = "images/test_windows"
_POSITIONS = (0.5, 0.25, 0.75, 0.125, 0.875)  # where in a video's run of frames of one class to pick


def _spread(items: Sequence, k: int) -> list:
    """At most ``k`` of ``items``, evenly spaced over the list."""
    if len(items) <= k:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, k).round().astype(int)]


def choose_windows(labels: Sequence[np.ndarray], clip_len: int, count: int) -> list[tuple[int, int, int]]:
    """``count`` test windows as (video, window, label): ``count // 2`` anomalous, the rest normal.

    Each class takes one window per video first (the middle of that video's frames of the class), from
    videos spread over the test set and not yet used by the other class, before it takes a second
    window of any video. Window ``w`` scores frame ``w + clip_len // 2``.
    """
    picks: list[tuple[int, int, int]] = []
    for want, n in ((1, count // 2), (0, count - count // 2)):
        per_video = [(v, np.flatnonzero(scored_labels(np.asarray(lab), clip_len) == want))
                     for v, lab in enumerate(labels)]
        per_video = [(v, idx) for v, idx in per_video if idx.size]
        used = {v for v, _, _ in picks}
        fresh = [e for e in per_video if e[0] not in used]
        taken = [e for e in per_video if e[0] in used]
        chosen: list[tuple[int, int, int]] = []
        for position in _POSITIONS:
            missing = n - len(chosen)
            videos = _spread(fresh, missing) + _spread(taken, missing - min(len(fresh), missing))
            for v, idx in videos:
                pick = (v, int(idx[min(len(idx) - 1, int(position * len(idx)))]), want)
                if pick not in chosen and len(chosen) < n:
                    chosen.append(pick)
            if len(chosen) >= n:
                break
        picks += chosen
    return picks


@checked
class FixedWindowImages(pl.Callback):
    """Logs ``images/test_windows`` at every validation epoch; see the module docstring."""

    def __init__(self, count: Annotated[NonNegative, Field(description="fixed test windows shown (half "
                                                           "anomalous)")] = 6,
                 error_max: ErrorMax = 0.5, colormap: Colormap = "inferno") -> None:
        self.count, self.colours = count, ErrorColours(colormap, error_max)
        self.chosen: list[tuple[int, int, int]] | None = None  # chosen from the first validation batch
        self._keys: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._hits: torch.Tensor | None = None
        self._frames: np.ndarray | None = None  # (K, 2, H, W) uint8 input and reconstruction centre frames
        self._seen = np.zeros(0, dtype=bool)

    def _choose(self, batch: EvalBatch) -> None:
        """The windows, once per run, from the labels every evaluation batch carries."""
        videos = batch.videos
        self.chosen = choose_windows(videos.labels, videos.clip_len, self.count)
        self._keys = window_key(*torch.tensor([(v, w) for v, w, _ in self.chosen], dtype=torch.long).T)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._sum = self._hits = None

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if trainer.sanity_checking or not self.count or tensorboard(trainer) is None or not outputs \
                or "recon_centre" not in outputs:
            return
        if self.chosen is None:
            self._choose(batch)
        key = window_key(batch.video, batch.window)
        match = (key[None, :] == self._keys.to(key.device)[:, None]).float()  # (K, B), one-hot or zero
        centre = batch.clip[:, 0, batch.videos.clip_len // 2].float()
        frames = torch.stack([centre, outputs["recon_centre"][:, 0].float()], 1)  # (B, 2, H, W)
        if self._sum is None:
            self._sum = frames.new_zeros((len(self.chosen), *frames.shape[1:]))
            self._hits = match.new_zeros(len(self.chosen))
        self._sum += torch.einsum("kb,bchw->kchw", match, frames)
        self._hits += match.sum(1)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Every rank holds the windows it scored; the sum over ranks (a distributed sampler may score
        one twice, hence the division) gives rank 0 all of them."""
        self._frames = None
        if self._sum is None:
            return
        total = trainer.strategy.reduce(self._sum, reduce_op="sum")
        hits = trainer.strategy.reduce(self._hits, reduce_op="sum")
        frames = total / hits.clamp(min=1)[:, None, None, None]
        self._frames, self._seen = to_uint8(frames), (hits > 0).cpu().numpy()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer, evaluation = board(trainer), pl_module.evaluation
        if writer is None or self._frames is None or evaluation is None:
            return
        names = evaluation.videos.names
        c = evaluation.videos.clip_len // 2
        rows, labels = [], []
        for (v, w, label), (frame, recon), seen in zip(self.chosen, self._frames, self._seen, strict=True):
            if not seen:
                continue
            at = (evaluation.video_index == v) & (evaluation.frame_index == w + c)
            score = f"score {float(evaluation.anomaly_score[at][0]):.2f}" if at.any() else ""
            rows.append(panel_row(frame, recon, self.colours))
            labels.append(f"video {names[v]}\nframe {w + c}\n{'ANOMALOUS' if label else 'normal'}\n{score}")
        if rows:
            image = labelled_grid(rows, labels, ("input", "reconstruction", "error"))
            writer.add_image(TAG, image, trainer.current_epoch, dataformats="HWC")
