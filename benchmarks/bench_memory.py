"""Peak resident memory (RSS) against the size of the frame cache: building it, reading all of it, and
a real ``python run.py`` training run on it.

A generated dataset in the usual layout gets a training split of ``--gb`` gigabytes of decoded frames
(``--size``×``--size`` grayscale JPEGs, written with OpenCV: a textured background, moving shapes and
noise) next to the small test split of the synthetic dataset (so that the run can score an AUC). Each
phase runs in its own process, whose peak RSS (``ru_maxrss``) is the figure reported:

* ``imports``: the modules a run loads, nothing else (the floor every row below stands on);
* ``build``: ``load_frame_store`` on a cold cache — decode, resize, write the ``.npy`` (frames/s);
* ``read``: every frame of the cache read once, through the training dataset's gather, in shuffled
  non-overlapping 16-frame windows — the reads of a whole epoch, without the model; once as lnra does
  it and once with the unmapping of read pages switched off (what the memory map alone would do);
* ``train``: ``python run.py`` on that dataset: one epoch limited to ``--batches`` batches (the model
  at ``--widths`` so that a CPU gets through), then validation and the test on the whole test split.

    python benchmarks/bench_memory.py [--gb 3] [--size 256] [--dir /tmp/lnra_bench_memory] [--keep]

Prints a Markdown table (GiB; ``ru_maxrss`` counts file pages mapped into the process too). Needs
about 1.6× ``--gb`` of free disk in ``--dir`` (JPEGs + cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIP = 16
TEST_SPEC = {"seed": 0, "size": 64, "train_videos": 1, "test_videos": 2, "frames_per_video": 48}


def _write_video(args: tuple[Path, int, int, int]) -> None:
    """One training video of moving bright blobs on a textured background, as JPEGs."""
    import cv2

    folder, frames, size, seed = args
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size]
    background = (100 + 20 * np.sin(xx / 9.0 + seed) * np.cos(yy / 13.0)).astype(np.float32)
    pos = rng.uniform(0, size, (4, 2))
    vel = rng.uniform(-3, 3, (4, 2))
    for t in range(frames):
        img = background + rng.normal(0, 6, (size, size)).astype(np.float32)
        for (x, y) in pos:
            cv2.circle(img, (int(x), int(y)), size // 16, 220.0, -1)
        pos = (pos + vel) % size
        cv2.imwrite(str(folder / f"{t:04d}.jpg"), np.clip(img, 0, 255).astype(np.uint8),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])


def make_dataset(root: Path, gb: float, size: int, frames_per_video: int) -> tuple[int, float]:
    """The synthetic dataset's test split plus ``gb`` GB of generated training frames; (frames, seconds)."""
    from lnra.data.synthetic import SyntheticSpec, generate_synthetic

    n_frames = int(gb * 1e9 // (size * size))
    n_videos = -(-n_frames // frames_per_video)
    start = time.perf_counter()
    if not (root / "done.json").exists():
        shutil.rmtree(root, ignore_errors=True)
        generate_synthetic(root, SyntheticSpec(**TEST_SPEC))  # its test split and labels
        shutil.rmtree(root / "training" / "frames")
        folder = root / "training" / "frames"
        jobs = [(folder / f"{v:03d}", frames_per_video, size, v) for v in range(n_videos)]
        with Pool(os.cpu_count() or 2) as pool:
            pool.map(_write_video, jobs)
        (root / "done.json").write_text(json.dumps({"videos": n_videos, "frames": frames_per_video}))
    return n_videos * frames_per_video, time.perf_counter() - start


BUILD = """
import resource, sys, time
from pathlib import Path
from lnra.data.frames import list_videos, load_frame_store
root, cache, size = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
listing = list_videos(root / "training" / "frames")
start = time.perf_counter()
store = load_frame_store(listing, cache, "synthetic", "training", size, size)
took = time.perf_counter() - start
print(len(store.frames), took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

READ = """
import resource, sys, time
from pathlib import Path
import numpy as np
import lnra.data.frames as frames
from lnra.loading.clip_datasets import TrainClips
root, cache, size, release = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
if not release:
    frames.RELEASE_BYTES = 1 << 62
store = frames.load_frame_store(frames.list_videos(root / "training" / "frames"), cache, "synthetic",
                                "training", size, size)
clips = TrainClips(store, 16, None, gather=True)
windows = np.flatnonzero(clips.start_of % 16 == 0)
np.random.default_rng(0).shuffle(windows)
start, read = time.perf_counter(), 0
for i in range(0, len(windows), 8):
    items = [(w, w, 0) for w in windows[i : i + 8].tolist()]  # (window, skip-clip start, seed)
    read += clips.__getitems__(items).clip.frames.numel()
took = time.perf_counter() - start
print(read, took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

BASELINE = """
import resource
import lnra.loading.datamodule, lnra.method.module, pytorch_lightning
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

TRAIN = """
import atexit, resource, runpy, sys
atexit.register(lambda: print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _python(code: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-4000:])
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=3.0, help="decoded training frames, in GB (1e9 bytes)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames-per-video", type=int, default=512)
    parser.add_argument("--batches", type=int, default=10, help="training batches of the one epoch")
    parser.add_argument("--widths", default="[8,8,8,8]", help="model.net.widths of the training run")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/lnra_bench_memory"))
    parser.add_argument("--keep", action="store_true", help="keep the dataset and cache afterwards")
    args = parser.parse_args()
    root, cache = args.dir / "data", args.dir / "cache"
    n_frames, generate_s = make_dataset(root, args.gb, args.size, args.frames_per_video)
    shutil.rmtree(cache, ignore_errors=True)
    rows = [("imports only (torch, Lightning, lnra): the fixed cost", "", int(_python(BASELINE)))]

    count, took, peak = _python(BUILD, str(root), str(cache), str(args.size)).split()
    cache_gib = sum(p.stat().st_size for p in cache.glob("*.npy")) / 2**30
    rows.append(("build the cache (cold)", f"{int(count) / float(took):.0f} frames/s", int(peak)))
    for release, label in (("1", "read every frame once (lnra)"),
                           ("0", "same, without unmapping read pages")):
        read, took, peak = _python(READ, str(root), str(cache), str(args.size), release).split()
        rows.append((label, f"{int(read) / float(took) / 2**30:.2f} GiB/s", int(peak)))
    out = _python(TRAIN, str(REPO / "run.py"), f"paths.root_dir={args.dir}", f"paths.cache_dir={cache}",
                  f"paths.output_dir={args.dir}/outputs", f"dataset.root={root}",
                  *(f"dataset.generate.{k}={v}" for k, v in TEST_SPEC.items()),
                  f"dataset.height={args.size}", f"dataset.width={args.size}", "trainer.max_epochs=1",
                  f"++trainer.limit_train_batches={args.batches}", f"model.net.widths={args.widths}",
                  "logger=none", "viz.timelines=false", "trainer.enable_progress_bar=false")
    peak = int(out.split("PEAK_RSS_KB")[-1].split()[0])
    rows.append((f"python run.py: {args.batches} training batches + validation + test", "", peak))

    print(f"\ntraining frames: {n_frames:,} at {args.size}x{args.size} (generated in {generate_s:.0f} s); "
          f"cache {cache_gib:.2f} GiB; test split {TEST_SPEC['test_videos']}x{TEST_SPEC['frames_per_video']} "
          f"frames\n")
    print("| phase | speed | peak RSS | peak RSS / cache |")
    print("|---|---|---|---|")
    for label, speed, peak_kb in rows:
        print(f"| {label} | {speed} | {peak_kb / 2**20:.2f} GiB | {peak_kb / 2**20 / cache_gib:.0%} |")
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
