"""Checkpoints that are either the old file or the complete new one, never a torn mixture.

Lightning's own ``TorchCheckpointIO`` serialises into memory and then writes through an fsspec
transaction whose temporary file lives in the system temp folder; when that folder is on another
filesystem than the run directory (the usual case on clusters: ``/tmp`` is local, outputs are on a
shared disk) the final "move" is a copy, so a kill during it truncates ``last.ckpt`` — exactly the file a
resumed run needs. Here the checkpoint is written next to its destination, flushed to disk, and renamed
over it with ``os.replace``, which is atomic within one filesystem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.utilities.cloud_io import get_filesystem
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO

from lnra.diskio import explained_write_errors


def partial_path(path: Path) -> Path:
    """Where a checkpoint is written before it is renamed to ``path``: a fixed, hidden sibling, so that a
    write killed half-way leaves one stale file that the next save overwrites rather than a pile of them."""
    return path.with_name(f".{path.name}.partial")


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a crash right after ``os.replace`` could otherwise undo it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening a folder; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` by write-then-rename in the same folder: the old file survives any failure, and a
    full disk or a read-only folder stops the run with one line naming the path and the free space."""
    path = Path(path)
    tmp = partial_path(path)
    try:
        with explained_write_errors(path, "checkpoint"):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                torch.save(obj, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning ``CheckpointIO`` plugin: local checkpoints are saved atomically (see the module docstring);
    remote URLs keep Lightning's own behaviour."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        atomic_torch_save(checkpoint, path)


class LastEveryValidation(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` is written after every validation, improved or not.

    Lightning 2.x writes ``last.ckpt`` (``save_last=True``) only when a top-k checkpoint was saved in the
    same step, i.e. only when the monitored AUC improved: a run killed after epochs that did not improve
    would resume from an older epoch and train them again. The state key stays Lightning's own, so
    checkpoints written before (by ``ModelCheckpoint``) resume with their best-AUC tracking.
    """

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):  # validation ran in this epoch's last step
            self._save_last_if_skipped(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_skipped(trainer)

    def _save_last_if_skipped(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` unless Lightning saved at this step (it then wrote ``last.ckpt`` too)."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _generate_state_key(self, **kwargs: Any) -> str:
        return f"ModelCheckpoint{kwargs!r}"
