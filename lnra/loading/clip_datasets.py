"""The datasets behind the loaders, fetched a whole batch at a time, and the order of a training epoch
(why one sampler yields both the clip and its skip-frame partner: docs/method.md §8, Skip-frame pairs)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from lightning_utilities.core.apply_func import apply_to_collection
from torch.utils.data import Dataset, Sampler

from lnra.data.frames import FrameStore
from lnra.data.labels import MaskStore, TestVideos
from lnra.data.pixels import window_count
from lnra.loading.batches import Clips, TestFetch, TrainFetch
from lnra.pseudo.skip import skip_frame_indices

EpochItem = tuple[int, int, int]  # (clip index, skip-frame start index, seed of the item's other draws)


class ShuffledPairs(Sampler[EpochItem]):
    """Per epoch, two random permutations of ``range(n)`` zipped, plus a seed per item, from ``seed`` and the
    epoch alone: every rank builds the same list. Each pass counts as the next epoch unless set."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[EpochItem]:
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % (1 << 63))
        self.epoch += 1
        clips = torch.randperm(self.n, generator=generator).tolist()
        starts = torch.randperm(self.n, generator=generator).tolist()
        seeds = torch.randint(1 << 62, (self.n,), generator=generator).tolist()
        yield from zip(clips, starts, seeds, strict=True)


class _Windows(Dataset):
    """Every ``clip_len``-frame window (stride 1) of a frame store, fetched by ``__getitems__`` as one fancy
    index into the cache (no per-item tensors to stack); ``gather=False``: only the indices travel."""

    def __init__(self, store: FrameStore, clip_len: int, gather: bool) -> None:
        self.store, self.clip_len, self.gather = store, clip_len, gather
        self.lengths, self.offsets = store.lengths, store.offsets
        per_video = window_count(self.lengths, clip_len)
        self.video_of = np.repeat(np.arange(len(per_video)), per_video)
        self.start_of = np.concatenate([np.arange(n) for n in per_video])  # a store has >= 1 video

    def __len__(self) -> int:
        return len(self.video_of)

    def __getitem__(self, index: int) -> TrainFetch | TestFetch:
        """One sample: the subclass's batch of one, without its batch dimension."""
        return apply_to_collection(self.__getitems__([index]), torch.Tensor, lambda tensor: tensor[0])

    def _window_index(self, indices: list[int] | np.ndarray) -> np.ndarray:
        """(B, T) global frame indices of the windows ``indices``."""
        indices = np.asarray(indices, dtype=np.int64)
        first = self.offsets[self.video_of[indices]] + self.start_of[indices]
        return first[:, None] + np.arange(self.clip_len)

    def _clips(self, index: np.ndarray) -> Clips:
        """The indices, and the (B, 1, T, H, W) uint8 frames unless the cache is on the device."""
        frames = torch.from_numpy(self.store.gather(index)).unsqueeze(1) if self.gather else None
        return Clips(torch.from_numpy(index), frames)


class TrainClips(_Windows):
    """The training windows (docs/method.md §1) and, with ``jumps``, skip-frame clips and targets (§5)."""

    def __init__(self, store: FrameStore, clip_len: int, jumps: tuple[int, ...] | None, gather: bool) -> None:
        super().__init__(store, clip_len, gather)
        self.jumps = jumps

    def __getitems__(self, items: list[EpochItem]) -> TrainFetch:
        clips, starts, seeds = (np.asarray(column, dtype=np.int64) for column in zip(*items, strict=True))
        batch = TrainFetch(self._clips(self._window_index(clips)))
        if self.jumps:
            videos = self.video_of[starts]
            pairs = [skip_frame_indices(np.random.default_rng(int(seed)), int(self.lengths[v]), int(i),
                                        self.jumps, self.clip_len)
                     for v, i, seed in zip(videos, self.start_of[starts], seeds, strict=True)]
            first = self.offsets[videos][:, None]
            batch.skip = self._clips(np.stack([p[0] for p in pairs]) + first)
            batch.skip_target = self._clips(np.stack([p[1] for p in pairs]) + first)
        return batch


class TestWindows(_Windows):
    """The test windows (docs/method.md §6) with their video, window index and scored frames' masks."""

    __test__ = False  # a dataset, not a pytest class

    def __init__(self, store: FrameStore, videos: TestVideos, gather: bool, masks: MaskStore | None = None
                 ) -> None:
        super().__init__(store, videos.clip_len, gather)
        self.videos, self.masks = videos, masks

    def __getitems__(self, indices: list[int]) -> TestFetch:
        indices = np.asarray(indices, dtype=np.int64)
        video, start = self.video_of[indices], self.start_of[indices]
        mask = None
        if self.masks is not None:
            scored = self.masks.offsets[video] + start + self.clip_len // 2
            mask = torch.from_numpy(self.masks.masks(scored))
        return TestFetch(self._clips(self._window_index(indices)), torch.from_numpy(video),
                         torch.from_numpy(start), self.videos, mask)


def already_batched(batch: TrainFetch | TestFetch) -> TrainFetch | TestFetch:
    """The DataLoader's collate step for datasets that fetch whole batches: nothing left to stack."""
    return batch
