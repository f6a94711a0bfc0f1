"""One frame-cache build for many processes: four processes on a cold cache, and a builder killed while
holding the lock."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from helpers.data import write_dataset
from helpers.paths import REPO

from lnra.data.frames import list_videos, load_frame_store

# A process that waits for a start signal, then opens the cache; decoding is slowed so that the build
# lasts long enough for every process to arrive while it runs. `hang` makes the build never end.
CHILD = """
import hashlib, logging, sys, time
from pathlib import Path
import numpy as np
import lnra.data.frames as frames
root, cache, go, mode = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
real_read = frames.read_frame
def slow_read(path, *args, **kwargs):
    time.sleep(600 if mode == "hang" else 0.03)
    return real_read(path, *args, **kwargs)
frames.read_frame = slow_read
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.01)
store = frames.load_frame_store(frames.list_videos(root / "training" / "frames"), cache, "toy", "training",
                                16, 16)
print("sha1", hashlib.sha1(np.ascontiguousarray(store.frames).tobytes()).hexdigest(), flush=True)
"""

FRAMES = [40, 40, 40, 40]  # 160 frames: ~0.6 s of slowed decoding on 8 threads


def _start(tmp_path: Path, mode: str, count: int) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    args = [str(tmp_path / "data"), str(tmp_path / "cache"), str(tmp_path / "go"), mode]
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(count)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    (tmp_path / "go").touch()
    return procs


def _direct_sha1(root: Path) -> str:
    """The frames decoded in this process, without any cache build racing it (a separate cache folder)."""
    store = load_frame_store(list_videos(root / "training" / "frames"), root.parent / "own_cache", "toy",
                             "training", 16, 16)
    return hashlib.sha1(np.ascontiguousarray(store.frames).tobytes()).hexdigest()


def test_four_processes_on_a_cold_cache_build_it_once_and_read_identical_frames(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", train=FRAMES, test=[])
    procs = _start(tmp_path, "normal", 4)
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    said = "\n".join(outputs)
    assert [p.returncode for p in procs] == [0, 0, 0, 0], said
    builds = [line for line in said.splitlines() if line.startswith("building the frame cache")]
    waits = [line for line in said.splitlines() if line.startswith("waiting for another process")]
    hashes = {line.split()[1] for line in said.splitlines() if line.startswith("sha1 ")}
    assert len(builds) == 1, said
    assert len(waits) == 3, said  # every other process said once that it waits
    assert hashes == {_direct_sha1(tmp_path / "data")}, said
    left = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert [Path(n).suffix for n in left] == [".json", ".npy"], left  # no lock, no partial files
    print("\n" + "\n".join(f"process {i}: " + " | ".join(o.strip().splitlines())
                            for i, o in enumerate(outputs)))


def test_a_builder_killed_while_holding_the_lock_blocks_nobody(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", train=[8, 8], test=[])
    (builder,) = _start(tmp_path, "hang", 1)
    try:
        deadline = time.monotonic() + 60
        while not list((tmp_path / "cache").glob(".*.partial")):
            assert builder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        stale = list((tmp_path / "cache").glob(".*.partial"))
        builder.send_signal(signal.SIGKILL)
        builder.wait()
    finally:
        builder.kill()
    started = time.monotonic()
    listing = list_videos(tmp_path / "data" / "training" / "frames")
    store = load_frame_store(listing, tmp_path / "cache", "toy", "training", 16, 16)
    assert time.monotonic() - started < 30
    assert store.frames.shape == (16, 16, 16)
    assert not any(p.exists() for p in stale)  # the dead builder's temporary file was removed
