"""TensorBoard views of a training run (docs/guide.md, What a run leaves): whether the model learns *not to
reconstruct* and which cell is ahead, from what validation computed (nothing is scored twice); and the
pseudo-anomaly preview (``task=preview``, ``pseudo/preview``): a few training clips as the model receives
them, each forced to one of the enabled kinds in turn, so that p = 0.2 still shows anomalies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import compress
from typing import Annotated, Any

import numpy as np
import pytorch_lightning as pl
import torch
from pydantic import Field

from lnra import pictures
from lnra.callbacks import METRICS, add_png, board, centre_frames, tensorboard
from lnra.callbacks.checkpoints import isolated_rng
from lnra.config.options import checked
from lnra.config.types import Count, NonNegative, Seed
from lnra.loading.batches import EvalBatch, window_key
from lnra.loading.datamodule import VideoDataModule
from lnra.method.scoring import centre_index, scored_labels
from lnra.pictures import Colormap, ErrorColours, ErrorMax, grey, labelled_grid, panel_row, to_uint8
from lnra.pseudo.kinds import KIND_NORMAL

_POSITIONS = (0.5, 0.25, 0.75, 0.125, 0.875)  # where in a video's run of frames of one class to pick
PNG_NAME = "pseudo_preview.png"
LABEL_WIDTH = 170  # pixels of the preview grid's label column
PreviewBatch = tuple[torch.Tensor, torch.Tensor, list[str]]


class HealthMonitor(pl.Callback):
    """Logs ``health/learning_rate`` and (on a GPU) ``health/peak_gpu_memory_gib`` per training epoch."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer, epoch = board(trainer), trainer.current_epoch
        if writer is None:
            return
        writer.add_scalar("health/learning_rate", trainer.optimizers[0].param_groups[0]["lr"], epoch)
        if pl_module.device.type == "cuda":
            gib = torch.cuda.max_memory_allocated(pl_module.device) / 2**30
            writer.add_scalar("health/peak_gpu_memory_gib", gib, epoch)


class HParamsLogger(pl.Callback):
    """A run's row of TensorBoard's HParams table (a sweep: one sortable table), updated per validation."""

    def __init__(self, hparams: dict[str, Any]) -> None:
        self.hparams = hparams

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (logger := tensorboard(trainer)) is not None:
            values = {**self.hparams, "precision": str(trainer.precision), "epochs": int(trainer.max_epochs)}
            logger.log_hyperparams(values, metrics=dict.fromkeys(METRICS, 0.0))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer, logged = board(trainer), trainer.callback_metrics
        if writer is not None and all(key in logged for key in METRICS.values()):
            for tag, key in METRICS.items():
                writer.add_scalar(tag, float(logged[key]), trainer.current_epoch)


@checked
class ScoreMonitor(pl.Callback):
    """Per epoch, score timelines of test videos and histograms of normal vs anomalous frames' scores."""

    def __init__(self, timelines: Annotated[NonNegative, Field(description="score timelines of at most this "
                                                              "many test videos")] = 16,
                 histograms: Annotated[bool, Field(description="anomaly scores of normal vs anomalous "
                                                   "frames")] = True) -> None:
        self.timelines, self.histograms = timelines, histograms

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer, evaluation = board(trainer), getattr(pl_module, "evaluation", None)
        if writer is None or evaluation is None:
            return
        step = trainer.current_epoch
        for label, name in ((0, "normal"), (1, "anomalous")) if self.histograms else ():
            if (values := evaluation.anomaly_score[evaluation.labels == label]).size:
                writer.add_histogram(f"val_scores/{name}", values, step)
        timelines = [timeline for _, timeline in pictures.video_timelines(evaluation)]
        plot = pictures.TimelinePlot(640, 200)
        for timeline in timelines[::max(1, -(-len(timelines) // self.timelines))] if self.timelines else []:
            titled = timeline._replace(name=f"{timeline.name} (epoch {step})")
            add_png(writer, f"val_timeline/{timeline.name}", plot.image(titled), step)


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


def _preview_clips(trainer: pl.Trainer, preview: Callable[..., PreviewBatch], clips: int,
                   seed: int) -> PreviewBatch | None:
    """The preview's clips, if a TensorBoard shows them and any is pseudo-anomalous (a baseline's are not)."""
    batch = preview(clips, seed) if clips and board(trainer) is not None else None
    return batch if batch is not None and any(name != "normal" for name in batch[2]) else None


@checked
class PreviewLogger(pl.Callback):
    """Logs the preview grid to TensorBoard (``pseudo/preview``) once, when training starts."""

    def __init__(self, preview: Callable[..., PreviewBatch],
                 seed: Annotated[Seed, Field(description="which clips are shown")] = 0,
                 clips: Annotated[Count, Field(description="clips shown")] = 4) -> None:
        self.preview, self.seed, self.clips = preview, seed, clips

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (batch := _preview_clips(trainer, self.preview, self.clips, self.seed)) is not None:
            add_png(board(trainer), "pseudo/preview", render_grid(*batch), 0)


@checked
class PseudoClipImages(pl.Callback):
    """``images/pseudo_clips`` per epoch: reconstructions follow the normal target (the method's promise)."""

    def __init__(self, preview: Callable[..., PreviewBatch],
                 clips: Annotated[NonNegative, Field(description="fixed pseudo-anomalous clips shown")] = 4,
                 seed: Annotated[Seed, Field(description="which clips are shown")] = 0,
                 error_max: ErrorMax = 0.5, colormap: Colormap = "inferno") -> None:
        self.preview, self.clips, self.seed = preview, clips, seed
        self.colours = ErrorColours(colormap, error_max)
        self._batch: PreviewBatch | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._batch = _preview_clips(trainer, self.preview, self.clips, self.seed)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = board(trainer)
        if writer is None or self._batch is None:
            return
        inputs, target, names = self._batch
        c = centre_index(inputs.shape[2])
        # still in Lightning's evaluation: eval mode (BatchNorm uses its running statistics), no autograd
        recon = pl_module(inputs.to(pl_module.device)).float().cpu()
        x, y, r = (to_uint8(t[:, 0, c]) for t in (inputs, target, recon))
        rows = [np.concatenate([grey(a), grey(b), grey(d), self.colours(a, d)], axis=1)
                for a, b, d in zip(x, y, r, strict=True)]
        labels = [f"clip {i + 1}\n{name}\ncentre frame {c}" for i, name in enumerate(names)]
        image = labelled_grid(rows, labels, ("input", "target", "reconstruction", "error vs input"))
        add_png(writer, "images/pseudo_clips", image, trainer.current_epoch)


def _spread(items: Sequence, k: int) -> list:
    """At most ``k`` of ``items``, evenly spaced over the list."""
    at = range(len(items)) if len(items) <= k else np.linspace(0, len(items) - 1, k).round().astype(int)
    return [items[i] for i in at]


def choose_windows(labels: Sequence[np.ndarray], clip_len: int, count: int) -> list[tuple[int, int, int]]:
    """``count`` test windows as (video, window, label), ``count // 2`` anomalous, from as many videos spread
    over the test set as there are (the middle of a video's frames of the class first)."""
    picks: list[tuple[int, int, int]] = []
    for want, n in ((1, count // 2), (0, count - count // 2)):
        per_video = [(v, idx) for v, lab in enumerate(labels)
                     if (idx := np.flatnonzero(scored_labels(np.asarray(lab), clip_len) == want)).size]
        used, goal = {v for v, _, _ in picks}, len(picks) + n
        fresh = [e for e in per_video if e[0] not in used]
        taken = [e for e in per_video if e[0] in used]
        for position in _POSITIONS:
            missing = goal - len(picks)
            for v, idx in _spread(fresh, missing) + _spread(taken, max(0, missing - len(fresh))):
                pick = (v, int(idx[min(len(idx) - 1, int(position * len(idx)))]), want)
                if pick not in picks and len(picks) < goal:  # picks of the other class differ in want
                    picks.append(pick)
    return picks


@checked
class FixedWindowImages(pl.Callback):
    """``images/test_windows`` per epoch: fixed test windows, so TensorBoard's step slider shows the error
    concentrating on the same frames (matched in the validation pass without a host sync)."""

    def __init__(self, count: Annotated[NonNegative, Field(description="fixed test windows shown (half "
                                                           "anomalous)")] = 6,
                 error_max: ErrorMax = 0.5, colormap: Colormap = "inferno") -> None:
        self.count, self.colours = count, ErrorColours(colormap, error_max)
        self.chosen: list[tuple[int, int, int]] | None = None  # chosen from the first validation batch
        self._keys: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._hits: torch.Tensor | None = None

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: EvalBatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        centre = centre_frames(outputs, batch)
        if trainer.sanity_checking or not self.count or tensorboard(trainer) is None or centre is None:
            return
        if self.chosen is None:  # once per run, from the labels every evaluation batch carries
            self.chosen = choose_windows(batch.videos.labels, batch.videos.clip_len, self.count)
            self._keys = window_key(*torch.tensor([(v, w) for v, w, _ in self.chosen], dtype=torch.long,
                                                  device=batch.video.device).T)  # on the device once
        key = window_key(batch.video, batch.window)
        match = (key[None, :] == self._keys[:, None]).float()  # (K, B), one-hot or zero
        frames = torch.cat([f.float() for f in centre], 1)  # (B, 2, H, W): input and reconstruction
        sums = torch.einsum("kb,bchw->kchw", match, frames)
        self._sum = sums if self._sum is None else self._sum + sums
        self._hits = match.sum(1) if self._hits is None else self._hits + match.sum(1)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The sum over ranks gives rank 0 every window (a distributed sampler may score one twice)."""
        if self._sum is None:
            return
        total = trainer.strategy.reduce(self._sum, reduce_op="sum")
        hits = trainer.strategy.reduce(self._hits, reduce_op="sum")
        self._sum = self._hits = None  # the next validation sums afresh
        writer, evaluation = board(trainer), pl_module.evaluation
        if writer is None or not hits.any() or evaluation is None:
            return
        frames = to_uint8(total / hits.clamp(min=1)[:, None, None, None])
        names, c = evaluation.videos.names, evaluation.videos.clip_len // 2
        rows, labels = [], []
        for (v, w, label), (frame, recon) in compress(zip(self.chosen, frames, strict=True), hits.tolist()):
            at = (evaluation.video_index == v) & (evaluation.frame_index == w + c)
            score = f"score {float(evaluation.anomaly_score[at][0]):.2f}" if at.any() else ""
            rows.append(panel_row(frame, recon, self.colours))
            labels.append(f"video {names[v]}\nframe {w + c}\n{'ANOMALOUS' if label else 'normal'}\n{score}")
        image = labelled_grid(rows, labels, ("input", "reconstruction", "error"))
        add_png(writer, "images/test_windows", image, trainer.current_epoch)
