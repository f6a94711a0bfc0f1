"""The datasets behind the loaders: every clip-length window of every video of a frame cache, fetched a
whole batch at a time (training clips with their skip-frame pairs; test windows tagged with video and
window index), and the order of a training epoch.

The reference draws skip-frame clips from a second shuffled loader over the clip dataset, so within an
epoch every start serves as a skip-frame clip at most once. Here both passes come from one sampler whose
items are ``(clip, skip start, seed)``: the pairing travels with the item, so whatever shards or batches
the items (a distributed sampler, worker processes) keeps each normal clip with its partner, and ``seed``
makes the rest of the skip-frame draw (the jump, any redraws) a function of the item alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from lnra.data.frames import FrameStore
from lnra.data.labels import TestVideos
from lnra.data.pixel_masks import MaskStore
from lnra.data.pixels import window_count
from lnra.errors import LnraError
from lnra.loading.batches import Clips, TestFetch, TrainFetch
from lnra.pseudo.skip import skip_frame_indices

EpochItem = tuple[int, int, int]  # (clip index, skip-frame start index, seed of the item's other draws)


class ShuffledPairs(Sampler[EpochItem]):
    """Per epoch, two independent random permutations of ``range(n)`` zipped, plus a seed per item.

    The permutations depend only on ``seed`` and the epoch, so every process of a distributed run
    builds the same list before it is sharded, and a run repeats under the same seed. The epoch is
    set by Lightning through :meth:`set_epoch`; when nobody sets it (a distributed wrapper does not
    forward it), each new pass counts as the next epoch.
    """

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
    """Every ``clip_len``-frame window (stride 1) of every video of a frame store.

    Items are fetched a whole batch at a time (``__getitems__``, which the DataLoader prefers): one
    fancy index into the cache yields the (B, 1, T, H, W) batch directly, with no per-item tensors to
    stack. With ``gather=False`` (cache on the GPU) only the frame indices travel.
    """

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
        return self.__getitems__([index]).map(lambda tensor: tensor[0])

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
    """Every 16-frame window of every training video (docs/method.md §1), plus, when skip frames are
    enabled, a skip-frame clip and its normal target (docs/method.md §5) in the same item — so a
    distributed sampler shards normal and skip samples together.

    Items are :data:`EpochItem` triples from :class:`ShuffledPairs`: the
    window, the start of the skip-frame clip (a second shuffled pass over the same windows) and the
    seed of the skip-frame clip's jump and redraws.
    """

    def __init__(self, store: FrameStore, clip_len: int, jumps: tuple[int, ...] | None, gather: bool) -> None:
        super().__init__(store, clip_len, gather)
        self.jumps = jumps
        if len(self) == 0:
            raise LnraError(f"no training video has {clip_len} frames: nothing to train on")

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
    """Stride-1 16-frame windows over every test video (docs/method.md §6), tagged with video and window
    index, with the test videos they index and the scored frames' pixel masks (when ``masks`` is given)."""

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
            scored = self.masks.frame_index(video, start + self.clip_len // 2)
            mask = torch.from_numpy(self.masks.masks(scored))
        return TestFetch(self._clips(self._window_index(indices)), torch.from_numpy(video),
                         torch.from_numpy(start), self.videos, mask)


def already_batched(batch: TrainFetch | TestFetch) -> TrainFetch | TestFetch:
    """The DataLoader's collate step for datasets that fetch whole batches: nothing left to stack."""
    return batch
