"""Batches as dataclasses with named fields: the loaders yield :class:`TrainFetch` and :class:`TestFetch`;
after the transfer the DataModule turns them into the :class:`TrainBatch` and :class:`EvalBatch`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import torch
from lightning_utilities.core.apply_func import apply_to_collection

from lnra.data.labels import TestVideos


def window_key(video: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """(video, window) as one int64 ``video << 32 | window``: sorting keys sorts windows in video order."""
    return (video.long() << 32) + window.long()


class Batch:
    """Shared by the batches: torch's DataLoader pins a batch of unknown type through its pin_memory()."""

    def pin_memory(self) -> Self:
        return apply_to_collection(self, torch.Tensor, torch.Tensor.pin_memory)


@dataclass
class Clips(Batch):
    """(B, T) global frame indices and, unless the cache is on the device, (B, 1, T, H, W) uint8 frames."""

    index: torch.Tensor
    frames: torch.Tensor | None = None


@dataclass
class TrainFetch(Batch):
    """Normal clips and, with skip frames enabled, skip-frame clips and their targets (docs/method.md §5)."""

    clip: Clips
    skip: Clips | None = None
    skip_target: Clips | None = None


@dataclass
class TestFetch(Batch):
    """Test windows as loaded, with their video and window index and the test videos."""

    __test__ = False  # a batch, not a pytest class

    clip: Clips
    video: torch.Tensor
    window: torch.Tensor
    videos: TestVideos
    mask: torch.Tensor | None = None


@dataclass
class TrainBatch(Batch):
    """Input and target in [-1, 1] and pseudo-anomaly kind code per sample (docs/method.md §3)."""

    input: torch.Tensor
    target: torch.Tensor
    kind: torch.Tensor
    kind_names: tuple[str, ...] = ("normal", "skip_frame")  # the name of each kind code

@dataclass
class EvalBatch(TestFetch):
    """A :class:`TestFetch` on its device, its windows (B, 1, T, H, W) in [-1, 1], with the scored frames'
    (B, H, W) pixel masks (or None): all an evaluation needs, so none asks the dataset."""

    clip: torch.Tensor  # the windows' pixels, no longer their :class:`Clips`

    @property
    def frame(self) -> torch.Tensor:
        """The index, within its video, of each window's scored (centre) frame."""
        return self.window + self.videos.clip_len // 2
