"""Progress that reads well in a log file: a line every tenth of an epoch or minute, one per validation.

On a terminal Lightning's progress bar stays; when the console is a file, a pipe, SLURM or a Ray
sweep's job (its output reaches the sweep's console through Ray), a bar is a flood of carriage returns,
and ``enable_progress_bar: false`` (as in ``experiment=ped2_small``) printed nothing at all for a whole
epoch. This callback prints compact
lines instead (epoch, step/total, clips/s, loss, ETA) and, either way, the AUC of every validation. It
also keeps the wall time that ``summary.md`` reports; speeds come from the throughput timer.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from lnra.callbacks.throughput import ThroughputTimer, find_timer

log = logging.getLogger(__name__)


def console_is_terminal() -> bool:
    return sys.stdout.isatty()


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressLines(Callback):
    """Step lines when no progress bar is shown (``lines=True``), a validation line always.

    A step line is printed every ``every_n_steps`` steps (default: a tenth of the epoch) or when
    ``every_s`` seconds passed since the last line, whichever comes first."""

    def __init__(self, every_n_steps: int | None = None, every_s: float = 60.0) -> None:
        self.every_n_steps, self.every_s = every_n_steps, every_s
        self.lines = False
        self.created = time.monotonic()
        self.best: float | None = None
        self.timer: ThroughputTimer | None = None
        self._last_line = self._epoch_start = self._eval_start = 0.0
        self._val_seconds = 0.0  # the last validation's duration, for the ETA

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Lines when the trainer shows no progress bar (run machinery turns the bar off when the console
        is not a terminal); the speeds are the throughput timer's."""
        self.lines = trainer.progress_bar_callback is None
        self.timer = find_timer(trainer)

    def _clips_per_second(self) -> float:
        return self.timer.train.running_rate(time.perf_counter()) if self.timer else math.nan

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        history = getattr(pl_module, "history", [])  # a resumed run: its best so far
        aucs = [h["auc_micro"] for h in history if not math.isnan(h.get("auc_micro", math.nan))]
        self.best = max(aucs) if aucs else None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = self._last_line = time.monotonic()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        now = time.monotonic()
        if not (self.lines and trainer.is_global_zero):
            return
        total = int(trainer.num_training_batches) if math.isfinite(trainer.num_training_batches) else 0
        step = batch_idx + 1
        every = self.every_n_steps or max(1, total // 10)
        if step % every and step != total and now - self._last_line < self.every_s:
            return
        self._last_line = now
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        per_step = (now - self._epoch_start) / step
        eta = f", ETA {self._eta(trainer, per_step, total, step)}" if total else ""
        log.info("epoch %d/%d  step %d/%s  %.1f clips/s  loss %.4f%s", trainer.current_epoch + 1,
                 trainer.max_epochs, step, total or "?", self._clips_per_second(),
                 float(loss) if loss is not None else math.nan, eta)

    def _eta(self, trainer: pl.Trainer, per_step: float, total: int, step: int) -> str:
        """Time left in this epoch, and in the run (later epochs timed like this one, each with a
        validation as long as the last one)."""
        epoch_left = per_step * (total - step)
        later = (trainer.max_epochs or 0) - trainer.current_epoch - 1
        if later < 0:
            return f"epoch {duration(epoch_left)}"
        run_left = epoch_left + self._val_seconds + later * (per_step * total + self._val_seconds)
        return f"epoch {duration(epoch_left)}, run {duration(run_left)}"

    # -- evaluation ---------------------------------------------------------------------------
    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._eval_start = self._last_line = time.monotonic()

    on_test_start = on_validation_start

    def _eval_batch(self, trainer: pl.Trainer, what: str, batch_idx: int) -> None:
        now = time.monotonic()
        if self.lines and trainer.is_global_zero and now - self._last_line >= self.every_s:
            self._last_line = now
            totals = trainer.num_val_batches if what == "validation" else trainer.num_test_batches
            log.info("%s  batch %d/%s", what, batch_idx + 1, totals[0] if totals else "?")

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_batch(trainer, "validation", batch_idx)

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                          batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_batch(trainer, "test", batch_idx)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """One line per validation: the epoch's AUC, the best so far, and where the time went."""
        auc = trainer.callback_metrics.get("val/auc_micro")
        if trainer.sanity_checking or auc is None or not trainer.is_global_zero:
            return
        auc = float(auc)
        self.best = auc if self.best is None else max(self.best, auc)
        now = time.monotonic()
        self._val_seconds = now - self._eval_start
        log.info("epoch %d/%d  val AUC %.2f%%  (best %.2f%%)  epoch %s, validation %s, %.1f clips/s",
                 trainer.current_epoch + 1, trainer.max_epochs, 100 * auc, 100 * self.best,
                 duration(self._eval_start - self._epoch_start), duration(now - self._eval_start),
                 self.timer.train.rate if self.timer else math.nan)
