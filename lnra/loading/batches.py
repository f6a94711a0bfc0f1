"""What a batch is, on either side of the device transfer: small dataclasses with named fields.

The loaders yield :class:`TrainFetch` and :class:`TestFetch` — frame indices, plus the uint8 frames
unless the frame cache lives on the device. After the transfer the DataModule turns them into what the
LightningModule reads: :class:`TrainBatch` (input, target, kind) and :class:`EvalBatch` (clip, video,
window). Lightning moves dataclasses to the device field by field; torch's DataLoader pins only what it
knows (tensors, mappings, sequences) or what has a ``pin_memory()`` method, hence :meth:`Batch.pin_memory`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Self

import torch

from lnra.data.labels import TestVideos


def window_key(video: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """One int64 per test window, unique over the test set: (video, window) packed as ``video << 32 | window``
    (``key >> 32`` gives the video back, and sorting keys sorts windows in video order)."""
    return (video.long() << 32) + window.long()


class Batch:
    """Shared by the batch dataclasses: apply a function to every tensor, nested batches included."""

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Self:
        """A copy with ``fn`` applied to every tensor field (fields that are None stay None)."""
        changes = {}
        for f in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                changes[f.name] = fn(value)
            elif isinstance(value, Batch):
                changes[f.name] = value.map(fn)
        return replace(self, **changes)  # type: ignore[type-var]

    def pin_memory(self) -> Self:
        """Page-locked copies, which the DataLoader's ``pin_memory=True`` asks for by this name."""
        return self.map(torch.Tensor.pin_memory)


@dataclass
class Clips(Batch):
    """B clips as read from the frame cache: (B, T) global frame indices and, unless the cache is on the
    device (where the frames are gathered after the transfer), the (B, 1, T, H, W) uint8 frames."""

    index: torch.Tensor
    frames: torch.Tensor | None = None


@dataclass
class TrainFetch(Batch):
    """A training batch as loaded: the normal clips and, when skip frames are enabled, the skip-frame
    clips and their normal targets (docs/method.md §5)."""

    clip: Clips
    skip: Clips | None = None
    skip_target: Clips | None = None


@dataclass
class TestFetch(Batch):
    """A batch of test windows as loaded: the clips, each tagged with its video and window index, the test
    videos they index (names, labels, window length) and, where the dataset has pixel ground truth, the
    (B, H, W) bool masks of the scored frames at the masks' own resolution."""

    __test__ = False  # a batch, not a pytest class

    clip: Clips
    video: torch.Tensor
    window: torch.Tensor
    videos: TestVideos
    mask: torch.Tensor | None = None


@dataclass
class TrainBatch(Batch):
    """What a training step reads (docs/method.md §3): each sample's input and its own target in
    [-1, 1], and its pseudo-anomaly kind code (:data:`lnra.pseudo.KIND_NORMAL`, ...)."""

    input: torch.Tensor
    target: torch.Tensor
    kind: torch.Tensor
    kind_names: tuple[str, ...] = ("normal", "skip_frame")  # the name of each kind code

@dataclass
class EvalBatch(Batch):
    """What a validation or test step reads: (B, 1, T, H, W) windows in [-1, 1], their video and window
    index, the test videos (:class:`~lnra.data.labels.TestVideos`) and the scored frames' pixel masks (or
    None): everything the evaluation and its callbacks need, so none of them asks the dataset."""

    clip: torch.Tensor
    video: torch.Tensor
    window: torch.Tensor
    videos: TestVideos
    mask: torch.Tensor | None = None

    @property
    def frame(self) -> torch.Tensor:
        """The index, within its video, of each window's scored (centre) frame."""
        return self.window + self.videos.clip_len // 2
