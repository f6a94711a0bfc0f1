"""Checkpoints that are either the old file or the complete new one, never a torn mixture.

Lightning's own ``TorchCheckpointIO`` serialises into memory and then writes through an fsspec
transaction whose temporary file lives in the system temp folder; when that folder is on another
filesystem than the run directory (the usual case on clusters: ``/tmp`` is local, outputs are on a
shared disk) the final "move" is a copy, so a kill during it truncates ``last.ckpt`` — exactly the file a
resumed run needs. Here the checkpoint is written next to its destination, flushed to disk, and renamed
over it with ``os.replace``, which is atomic within one filesystem.
"""

from __future__ import annotations

from typing import Any

from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.utilities.cloud_io import get_filesystem
from pytorch_lightning.plugins.io import TorchCheckpointIO

from lnra.diskio import atomic_torch_save


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
