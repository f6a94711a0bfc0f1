"""The order of one training epoch (docs/method.md §3, §5): a shuffled pass over the clips, and beside
it a second, independent shuffled pass over all clip starts that supplies the skip-frame clips.

The reference draws skip-frame clips from a second shuffled loader over the clip dataset, so within an
epoch every start serves as a skip-frame clip at most once. Here both passes come from one sampler
whose items are ``(clip, skip start, seed)``: the pairing travels with the item, so whatever shards or
batches the items (a distributed sampler, worker processes) keeps each normal clip with its partner,
and ``seed`` makes the rest of the skip-frame draw (the jump, any redraws) a function of the item alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

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
