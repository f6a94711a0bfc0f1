"""What a run says while it runs: the model, progress lines (a bar would flood a log file), a line per
validation, and the run's one clock as ``throughput/*`` (a device sync per phase, never per batch)."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Annotated, Any

import pytorch_lightning as pl
import torch
from pydantic import Field
from pytorch_lightning.callbacks import Callback

from lnra.config.options import checked
from lnra.config.types import Count

log = logging.getLogger(__name__)
RUN_LOG_ONLY = {"file_only": True}  # the console filter (lnra.run.console) keeps these lines for run.log


def duration(seconds: float) -> str:
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def clips_in(batch: Any) -> int:
    """Samples in a batch (a dataclass, dict, sequence or tensor): its first tensor's first dimension."""
    if isinstance(batch, dict):
        batch = list(batch.values())
    elif dataclasses.is_dataclass(batch):
        batch = [getattr(batch, f.name) for f in dataclasses.fields(batch)]
    values = batch if isinstance(batch, list | tuple) else [batch]
    return next((int(v.shape[0]) for v in values if isinstance(v, torch.Tensor) and v.dim()), 0)


def _now(module: pl.LightningModule) -> float:
    if module.device.type == "cuda":
        torch.cuda.synchronize(module.device)
    return time.perf_counter()


@dataclass
class _Phase:
    """Samples and seconds of one loop (training, validation or test), this epoch and in total."""

    samples: int = 0
    seconds: float | None = None  # None while the clock runs
    total_samples: int = 0
    total_seconds: float = 0.0
    started: float = 0.0

    def start(self, now: float) -> None:
        self.samples, self.seconds, self.started = 0, None, now

    def count(self, samples: int) -> None:
        """A finished batch's samples, none once stopped (as training after a mid-epoch validation)."""
        if self.seconds is None:
            self.samples += samples

    def stop(self, now: float) -> None:
        if self.seconds is None:
            self.seconds = now - self.started
            self.total_samples += self.samples
            self.total_seconds += self.seconds

    @property
    def rate(self) -> float:
        """This epoch's samples per second (NaN before the phase stopped)."""
        return self.samples / self.seconds if self.seconds else math.nan

    def running_rate(self, now: float) -> float:
        return self.samples / (now - self.started) if now > self.started else math.nan

    @property
    def total_rate(self) -> float:
        return self.total_samples / self.total_seconds if self.total_seconds else math.nan


def _evaluation(trainer: pl.Trainer) -> str | None:
    """The evaluation phase that runs: ``test`` or ``val``, None for the sanity check (on no clock)."""
    return None if trainer.sanity_checking else "test" if trainer.testing else "val"


@checked
class ProgressLines(Callback):
    """Step lines (without a progress bar), a line per validation, and the ``throughput/*`` speeds."""

    def __init__(
        self,
        every_n_steps: Annotated[Count | None, Field(description="steps between progress lines (null: a "
                                                     "tenth of the epoch)")] = None,
        every_s: Annotated[float, Field(gt=0, description="at most this many seconds between lines")] = 60.0,
    ) -> None:
        self.every_n_steps, self.every_s = every_n_steps, every_s
        self.phases = {"train": _Phase(), "val": _Phase(), "test": _Phase()}
        self._last_line = self._val_seconds = 0.0

    def _count(self, trainer: pl.Trainer, phase: str, batch: Any) -> None:
        self.phases[phase].count(clips_in(batch) * max(1, trainer.world_size))

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.phases["train"].start(_now(pl_module))
        self._last_line = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self._count(trainer, "train", batch)
        now = time.perf_counter()
        total = int(trainer.num_training_batches) if math.isfinite(trainer.num_training_batches) else 0
        step = batch_idx + 1
        every = self.every_n_steps or max(1, total // 10)
        if trainer.progress_bar_callback is not None or not trainer.is_global_zero or (
                step % every and step != total and now - self._last_line < self.every_s):
            return
        self._last_line = now
        train, later = self.phases["train"], (trainer.max_epochs or 0) - trainer.current_epoch - 1
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        eta = ""
        if total:  # the time left, later epochs as long as this one and the last validation
            per_step = (now - train.started) / step
            epoch_left = per_step * (total - step)
            run_left = epoch_left + self._val_seconds + later * (per_step * total + self._val_seconds)
            eta = f", ETA epoch {duration(epoch_left)}"
            eta += f", run {duration(run_left)}" if later >= 0 else ""  # a run with an end
        log.info("epoch %d/%d  step %d/%s  %.1f clips/s  loss %.4f%s", trainer.current_epoch + 1,
                 trainer.max_epochs, step, total or "?", train.running_rate(now),
                 float(loss) if loss is not None else math.nan, eta)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.phases["train"].stop(_now(pl_module))
        pl_module.log("throughput/train_clips_per_s", self.phases["train"].rate, sync_dist=False)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        train = self.phases["train"]
        if trainer.is_global_zero and train.total_samples:
            log.info("training: %d clips in %.1f s of training epochs, %.1f clips/s", train.total_samples,
                     train.total_seconds, train.total_rate, extra=RUN_LOG_ONLY)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (phase := _evaluation(trainer)) is None:
            return
        now = _now(pl_module)
        if trainer.state.fn == "fit":
            self.phases["train"].stop(now)  # validation inside a training epoch: the training clock stops
        self.phases[phase].start(now)
        self._last_line = time.perf_counter()

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if (phase := _evaluation(trainer)) is None:
            return
        self._count(trainer, phase, batch)
        now = time.perf_counter()
        bar = trainer.progress_bar_callback is not None
        if not bar and trainer.is_global_zero and now - self._last_line >= self.every_s:
            self._last_line = now
            totals = trainer.num_val_batches if phase == "val" else trainer.num_test_batches
            log.info("%s  batch %d/%s", "validation" if phase == "val" else "test", batch_idx + 1,
                     totals[0] if totals else "?")

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (phase := _evaluation(trainer)) is None:
            return
        timed = self.phases[phase]
        timed.stop(_now(pl_module))
        pl_module.log(f"throughput/{phase}_windows_per_s", timed.rate, sync_dist=False)
        if phase == "test" and trainer.is_global_zero:
            log.info("test: %d windows scored in %.1f s, %.1f windows/s", timed.samples, timed.seconds,
                     timed.rate, extra=RUN_LOG_ONLY)

    on_test_epoch_start, on_test_batch_end = on_validation_epoch_start, on_validation_batch_end
    on_test_epoch_end = on_validation_epoch_end

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """One line per validation: the epoch's AUC, the best so far, and where the time went."""
        metrics = trainer.callback_metrics
        if trainer.sanity_checking or "val/auc_micro" not in metrics or not trainer.is_global_zero:
            return
        train, self._val_seconds = self.phases["train"], self.phases["val"].seconds or 0.0
        log.info("epoch %d/%d  val AUC %.2f%%  (best %.2f%%)  epoch %s, validation %s, %.1f clips/s",
                 trainer.current_epoch + 1, trainer.max_epochs, 100 * float(metrics["val/auc_micro"]),
                 100 * float(metrics.get("val/auc_best", metrics["val/auc_micro"])),
                 duration(train.seconds or 0.0), duration(self._val_seconds), train.rate)


class ModelLine(Callback):
    """The model in one line when fitting starts: Lightning's table reads 0 FLOPs and warns under bf16."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            net = getattr(pl_module, "model", pl_module)
            net = getattr(net, "_orig_mod", net)
            params = list(pl_module.parameters())
            count = sum(p.numel() for p in params)
            size = sum(p.numel() * p.element_size() for p in params) / 1e6
            log.info("model: %s, %.1f M parameters (%.1f MB)", type(net).__name__, count / 1e6, size)
