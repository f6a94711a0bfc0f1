"""What the pixel-level localisation metrics add to a Ped2 evaluation: time and memory, without the model.

Feeds every scored Ped2 test window (1,830 centre frames, in test order, batches of ``--batch``) through
exactly what the metrics callback does per batch — the error maps upsampled from the model's
``--size``×``--size`` to the masks' 240×360 (and smoothed with each ``--sigma``), the masks of the batch
read from the packed-bit cache, the streamed update — and then computes the metrics. The
reconstructions are random (a fixed seed): the cost does not depend on their values. Reports per σ
the seconds for the whole test set, frames per second, and the growth of the process's peak RSS
over the run (the temporaries of one batch; the metric's state is 4 × bins counters).

    python benchmarks/bench_localisation.py --data ../shared/data [--size 64] [--batch 16] [--sigma 0 4]

Prints a Markdown table; the first line says how long opening (or building) the mask cache took.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lnra.data.pixels import window_count
from lnra.loading.datamodule import VideoDataModule
from lnra.method.pixel_metrics import DEFAULT_BINS, PixelLocalisation, error_maps

CLIP = 16


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the data folder holding ped2/")
    parser.add_argument("--size", type=int, default=64, help="the model's frame size (ped2_small: 64)")
    parser.add_argument("--batch", type=int, default=16, help="dataset.eval_batch_size")
    parser.add_argument("--bins", type=int, default=DEFAULT_BINS)
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.0, 4.0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lnra_bench_localisation")
    args = parser.parse_args()
    torch.set_num_threads(1)

    start = time.perf_counter()
    data = VideoDataModule("ped2", args.data / "ped2", args.cache, args.size, args.size)
    data.check_test_split()
    store = data.pixel_masks()
    print(f"mask cache: {len(store.bits)} masks of {store.height}x{store.width}, "
          f"{store.bits.nbytes / 2**20:.1f} MiB, opened in {time.perf_counter() - start:.1f} s")
    windows = [(v, w) for v, labels in enumerate(data.test_videos().labels)
               for w in range(window_count(len(labels), CLIP))]
    gen = torch.Generator().manual_seed(0)

    print("| σ | batches | seconds (whole test set) | frames/s | peak RSS growth (MiB) | pixel AUROC |")
    print("|---|---|---|---|---|---|")
    for sigma in args.sigma:
        metric = PixelLocalisation(args.bins)
        before = peak_rss_mib()
        start = time.perf_counter()
        for first in range(0, len(windows), args.batch):
            chunk = np.array(windows[first : first + args.batch])
            recon, frame = (torch.rand(len(chunk), 1, args.size, args.size, generator=gen) * 2 - 1
                            for _ in range(2))
            maps = error_maps(recon, frame, (store.height, store.width), sigma)
            scored = store.offsets[chunk[:, 0]] + chunk[:, 1] + CLIP // 2
            metric.update(maps, torch.from_numpy(store.masks(scored)))
        result = metric.compute()
        seconds = time.perf_counter() - start
        batches = -(-len(windows) // args.batch)
        print(f"| {sigma:g} | {batches} | {seconds:.1f} | {len(windows) / seconds:.0f} "
              f"| {peak_rss_mib() - before:.0f} | {result['pixel_auroc']:.3f} |")


if __name__ == "__main__":
    main()
