"""Evaluation windows/s with the full decode against the centre-frame crop (issue 28), as a Markdown table.

    python benchmarks/bench_centre_decode.py                          # 64x64 and 256x256, batch 16
    python benchmarks/bench_centre_decode.py --sizes 64 --steps 5 --rounds 5 --threads 1

The paper's autoencoder (seeded random weights: speed does not depend on them) in eval mode, fp32, under
``torch.inference_mode``, scores batches of random clips twice: through the full forward, its centre frame
then taken (what evaluation did before), and through :func:`lnra.method.model.centre_reconstruction`.
The two are timed in turn, round by round, so that a noisy machine slows both alike; the median over
rounds of each one's windows/s is reported, beside the multiply-accumulate ratio that
:func:`~lnra.method.model.eval_macs` counts for the same net and clip.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from lnra.method.model import Autoencoder3D, centre_reconstruction, eval_macs  # noqa: E402
from lnra.method.scoring import centre_index  # noqa: E402

PAPER_WIDTHS = (96, 128, 256, 256)


Score = Callable[[torch.Tensor], torch.Tensor]  # a batch of clips → its centre frames


def windows_per_second(score: Score, clips: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        score(clips)
    return steps * len(clips) / (time.perf_counter() - start)


def measure(size: int, args: argparse.Namespace) -> dict[str, float]:
    torch.manual_seed(0)
    net = Autoencoder3D(1, args.widths, args.frames, size, size).eval()
    clips = torch.rand(args.batch, 1, args.frames, size, size) * 2 - 1
    c = centre_index(args.frames)
    ways: dict[str, Score] = {
        "full": lambda x: net(x)[:, :, c],
        "crop": lambda x: centre_reconstruction(net, x),
    }
    rates: dict[str, list[float]] = {name: [] for name in ways}
    with torch.inference_mode():
        for score in ways.values():
            for _ in range(args.warmup):
                score(clips)
        for _ in range(args.rounds):
            for name, score in ways.items():
                rates[name].append(windows_per_second(score, clips, args.steps))
        one = clips[:1]
        macs = {name: eval_macs(net, one, centre_only=name == "crop") for name in ways}
    return {"full": statistics.median(rates["full"]), "crop": statistics.median(rates["crop"]),
            "mac_ratio": macs["crop"] / macs["full"], "full_gmac": macs["full"] / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="frame sides")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=16, help="clip length")
    parser.add_argument("--widths", type=int, nargs=4, default=list(PAPER_WIDTHS))
    parser.add_argument("--steps", type=int, default=3, help="batches per timed round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed batches per way before the rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{args.frames} frames, widths {list(args.widths)}, fp32, eval mode, inference_mode; "
          f"{args.rounds} rounds x {args.steps} batches (+{args.warmup} warm-up), medians\n")
    print("| size | full GMAC/window | full windows/s | crop windows/s | speed-up | crop/full MACs |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        r = measure(size, args)
        print(f"| {size}x{size} | {r['full_gmac']:.2f} | {r['full']:.2f} | {r['crop']:.2f} | "
              f"{r['crop'] / r['full']:.2f}x | {r['mac_ratio']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
