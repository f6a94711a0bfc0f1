"""What a run prints: lnra's own account of the run and every warning, each once; the rest goes to run.log
(``conf/hydra/job_logging/lnra.yaml`` puts these filters and handlers together)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from tqdm import tqdm


class ConsoleFilter(logging.Filter):
    """lnra's own lines and every warning; the rest, and ``file_only`` records, stay in run.log."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name.split(".")[0] == "lnra" and not getattr(record, "file_only", False)
        return record.levelno >= logging.WARNING or own


class NoAdvertisement(logging.Filter):
    """Drops Lightning's "💡 Tip: … litlogger …" line, printed on every run that has another logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


class ConsoleFormatter(logging.Formatter):
    """``[HH:MM:SS] message``; warnings and errors say what they are."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).rstrip()  # a captured warning ends in a newline
        if record.levelno >= logging.WARNING:
            stamp, _, message = text.partition("] ")
            return f"{stamp}] {record.levelname.lower()}: {message}"
        return text


class TqdmStreamHandler(logging.StreamHandler):
    """Writes above a live progress bar (``tqdm.write``) instead of into the middle of its line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
            self.flush()
        except Exception:  # noqa: BLE001 - logging must never raise (the logging module's own rule)
            self.handleError(record)


def setup_console() -> None:
    """Undo what would print a message twice or on every epoch: Lightning's own handlers, a loop's warning."""
    for logger in map(logging.getLogger, ("pytorch_lightning", "lightning_fabric")):
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)  # warnings reach run.log too, and the console once
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")


def device_name(trainer: pl.Trainer) -> str:
    """``cpu`` or the GPU's name, with the device count when several are used."""
    kind = type(trainer.accelerator).__name__.replace("Accelerator", "").lower()
    if kind == "cuda":
        kind = f"cuda ({torch.cuda.get_device_name(trainer.strategy.root_device)})"
    return kind if trainer.num_devices == 1 else f"{trainer.num_devices} x {kind}"


def describe_run(cfg: DictConfig, run: Any, run_dir: Path) -> str:
    """The one line that says what this run is, printed before any work starts."""
    d, trainer = run.datamodule, run.trainer
    epochs = f"{trainer.max_epochs} epoch{'' if trainer.max_epochs == 1 else 's'}"
    what = f"training {epochs}" if cfg.task == "train" else f"testing {cfg.ckpt_path}"
    return (f"{what}: dataset {d.name}, pseudo {cfg.pseudo.name}, {d.height}x{d.width}, "
            f"precision {trainer.precision}, {device_name(trainer)}, run directory {run_dir}")
