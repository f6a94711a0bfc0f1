"""Pseudo-anomaly synthesis speed: ms per batch of 4 clips of 16×256×256, every sample patched.

    python benchmarks/bench_pseudo.py [--threads 2] [--repeats 30] [--image-folder DIR [--workers 2]]

Prints a Markdown table: each patching technique with α 0.5 and β 10 (and β 0), pasting generated
textures (the intruder content does not change the cost: every pool is resized the same way), the
full per-sample selection with every sample patched, and skip frames (selection only: the skip clip
itself is sliced by the dataset). With ``--image-folder`` (an ImageFolder such as ImageNet's training
set) two more rows time SmoothMixS with intruders streamed from that folder as the paper draws ImageNet
(random resized crop + flips, decoded ahead by ``--workers`` processes), back to back — a harder test
than training, where a whole model step passes between two draws. A 16 MB copy is timed alongside as
the machine's yardstick: on a shared machine every figure scales with it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from lnra.pseudo.patch import RULES, PatchMixer
from lnra.pseudo.selection import PseudoAnomalies
from lnra.pseudo.skip import SkipFrame
from lnra.pseudo.sources import ImageFolderSource, TextureSource

BATCH, FRAMES, SIZE = 4, 16, 256


def timings_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, fastest) of ``repeats`` calls after a warm-up: on a machine shared with other jobs the
    fastest run is the closest to the code's own cost, the median to what a training step sees."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times), 1000 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--image-folder", type=Path, help="an ImageFolder to stream intruders from")
    parser.add_argument("--workers", type=int, default=2, help="processes decoding the streamed intruders")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    clip = torch.rand(BATCH, 1, FRAMES, SIZE, SIZE) * 2 - 1
    skip_clip, skip_target = clip.flip(2), clip.roll(1, 2)
    source = TextureSource(SIZE, SIZE)
    rows = [("copy of the batch (yardstick)", "-", timings_ms(clip.clone, args.repeats))]
    for technique in RULES:
        for beta in (10, 0):
            mixer = PatchMixer(technique, source, p=1.0, max_size=0.5, max_move=beta)
            rows.append((f"PatchMixer {technique}", f"α 0.5, β {beta}",
                         timings_ms(lambda m=mixer: m(clip), args.repeats)))
    selection = PseudoAnomalies(patches=[PatchMixer("smoothmix_s", source, p=1.0, max_size=0.5, max_move=10)])
    rows.append(("selection + smoothmix_s, all 4 patched", "α 0.5, β 10",
                 timings_ms(lambda: selection(clip), args.repeats)))
    if args.image_folder:
        streamed = ImageFolderSource(args.image_folder, SIZE, SIZE, crop=True, workers=args.workers)
        stream_mixer = PatchMixer("smoothmix_s", streamed, p=1.0, max_size=0.5, max_move=10)
        rows.append((f"PatchMixer smoothmix_s, streamed ImageFolder ({len(streamed)} images)",
                     f"α 0.5, β 10, crop+flips, {args.workers} workers",
                     timings_ms(lambda: stream_mixer(clip), args.repeats)))
        stream_selection = PseudoAnomalies(patches=[PatchMixer("smoothmix_s", streamed, p=0.2)])
        rows.append(("selection + smoothmix_s p 0.2, streamed ImageFolder", "α 0.5, β 10 (the paper's)",
                     timings_ms(lambda: stream_selection(clip), args.repeats)))
    skip = PseudoAnomalies(skip=SkipFrame(p=1.0))
    rows.append(("selection + skip frame, all 4 skipped", "jump 2-5",
                 timings_ms(lambda: skip(clip, skip_clip, skip_target), args.repeats)))
    print(f"\nbatch {BATCH}×1×{FRAMES}×{SIZE}×{SIZE}, {torch.get_num_threads()} threads, "
          f"{args.repeats} runs\n")
    print("| what | settings | median ms / batch | fastest ms / batch |\n|---|---|---|---|")
    for name, settings, (median, fastest) in rows:
        print(f"| {name} | {settings} | {median:.1f} | {fastest:.1f} |")


if __name__ == "__main__":
    main()
