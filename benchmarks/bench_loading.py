"""Training-clip loading throughput: slices of the decoded-frame cache vs decoding JPEGs every time.

One training sample is what a training step consumes per batch slot: a normal clip, a skip-frame clip
and its normal target, each 16 frames of ``size``×``size`` uint8 (docs/method.md §3, §5). Both approaches draw
the very same frame indices (TrainClips without gathering) and go through a real DataLoader with
batch size 4; only the way the frames are obtained differs. Also reports the time to build the cache.

    python benchmarks/bench_loading.py [--data-dir ../shared/data] [--size 256] [--workers 0 2]

Prints a Markdown table, with the rate of a plain memory copy of the same bytes as the ceiling.
Uses the real Ped2 training frames; the cache goes to a temporary folder (removed afterwards) unless
--cache-dir is given, so the build time is measured on every run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lnra.data.frames import list_videos, load_frame_store, read_frame, resize_frame
from lnra.loading.batches import Clips, TrainFetch
from lnra.loading.clip_datasets import EpochItem, ShuffledPairs, TrainClips, already_batched

JUMPS = (2, 3, 4, 5)
CLIP_LEN = 16
BATCH = 4


class DecodingClips(Dataset):
    """The same samples as ``TrainClips``, but every frame decoded and resized from its JPEG on demand."""

    def __init__(self, indices: TrainClips, files: list[Path], size: int) -> None:
        self.indices, self.files, self.size = indices, files, size

    def __len__(self) -> int:
        return len(self.indices)

    def _decoded(self, clips: Clips) -> Clips:
        """``clips`` with its (B, 1, T, size, size) frames decoded from the JPEG files."""
        frames = np.stack([resize_frame(read_frame(self.files[i]), self.size, self.size)
                           for i in clips.index.flatten().tolist()])
        shape = (*clips.index.shape, self.size, self.size)
        return Clips(clips.index, torch.from_numpy(frames).view(shape).unsqueeze(1))

    def __getitems__(self, items: list[EpochItem]) -> TrainFetch:
        fetch = self.indices.__getitems__(items)  # the frame indices only (gather=False)
        return TrainFetch(*(self._decoded(clips) for clips in (fetch.clip, fetch.skip, fetch.skip_target)))


def samples_per_second(dataset: Dataset, n_samples: int, workers: int) -> float:
    loader = DataLoader(dataset, batch_size=BATCH, sampler=ShuffledPairs(len(dataset), seed=0),
                        num_workers=workers, drop_last=True, collate_fn=already_batched)
    it = iter(loader)
    next(it)  # worker start-up is not loading throughput
    done, start = 0, time.perf_counter()
    for batch in it:
        assert batch.skip.frames.shape == (BATCH, 1, CLIP_LEN, *batch.clip.frames.shape[-2:])
        done += BATCH
        if done >= n_samples:
            break
    return done / (time.perf_counter() - start)


def memcpy_samples_per_second(frames: np.ndarray, n_samples: int) -> float:
    """The ceiling: copying the same bytes (3 clips per sample) as contiguous blocks, no indexing."""
    sample = 3 * CLIP_LEN
    source = np.ascontiguousarray(frames[: sample * BATCH])
    start = time.perf_counter()
    for _ in range(n_samples // BATCH):
        np.copy(source)
    return n_samples // BATCH * BATCH / (time.perf_counter() - start)


def main() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    default_data = os.environ.get("LNRA_SHARED_DATA", str(shared))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(default_data))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--cache-samples", type=int, default=4000)
    parser.add_argument("--jpeg-samples", type=int, default=200)
    args = parser.parse_args()

    listing = list_videos(args.data_dir / "ped2" / "training" / "frames")
    files = [f for video in listing.files for f in video]
    with tempfile.TemporaryDirectory(prefix="lnra-bench-cache-") as tmp:
        cache_dir = args.cache_dir or Path(tmp)
        start = time.perf_counter()
        store = load_frame_store(listing, cache_dir, "ped2", "training", args.size, args.size)
        build_s = time.perf_counter() - start
        np.random.seed(0)
        torch.manual_seed(0)
        rows = [("memcpy of the same bytes (ceiling)", "-", memcpy_samples_per_second(store.frames, 2000))]
        for workers in args.workers:
            cached = TrainClips(store, CLIP_LEN, JUMPS, gather=True)
            rate = samples_per_second(cached, args.cache_samples, workers)
            rows.append(("cache (one gather per batch)", workers, rate))
            decoding = DecodingClips(TrainClips(store, CLIP_LEN, JUMPS, gather=False), files, args.size)
            rate = samples_per_second(decoding, args.jpeg_samples, workers)
            rows.append(("decode JPEG each time", workers, rate))
    print(f"\nPed2 training frames: {len(files)} in {len(listing.names)} videos, {args.size}x{args.size}; "
          f"cache built in {build_s:.1f} s ({store.frames.nbytes / 2**20:.0f} MiB); "
          f"{os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}\n")
    print("| source | DataLoader workers | samples/s (normal + skip + target) | clips/s (16 frames each) |")
    print("|---|---|---|---|")
    for source, workers, rate in rows:
        print(f"| {source} | {workers} | {rate:,.0f} | {3 * rate:,.0f} |")


if __name__ == "__main__":
    main()
