"""A full disk or a read-only place while writing a checkpoint, the frame cache or the results: one line
naming the path and the free space, the previous file intact, and the run resumable afterwards."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
import torch
from helpers.data import write_dataset
from helpers.paths import REPO, TINY_DATASET, tmp_paths
from helpers.runner import child_env

import lnra.data.frames as frames_mod
import lnra.diskio as diskio
import lnra.run.results as results_mod
from lnra.data.frames import list_videos, load_frame_store
from lnra.data.labels import TestVideos
from lnra.diskio import partial_path
from lnra.errors import LnraError
from lnra.method.scoring import Evaluation
from lnra.run.trainer import AtomicCheckpointIO

FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
READ_ONLY = OSError(errno.EACCES, os.strerror(errno.EACCES))


def test_full_disk_while_saving_a_checkpoint_keeps_the_previous_one(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 0}, path)
    real_save = torch.save

    def full_disk(obj: object, f, *args, **kwargs) -> None:
        real_save(obj, f, *args, **kwargs)  # part of the file is written, then the disk is full
        raise FULL

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(LnraError) as caught:
        io.save_checkpoint({"epoch": 1, "w": torch.zeros(1000)}, path)
    message = str(caught.value)
    assert message.startswith(f"cannot write checkpoint {path}: disk full [No space left on device], ")
    assert " free there; the previous file is intact" in message and "\n" not in message
    assert torch.load(path, weights_only=True) == {"epoch": 0}
    assert not partial_path(path).exists()
    print(f"\ncheckpoint: error: {message}")


class _FillsUp:
    """A file on a disk that is full once ``frames`` writes have gone through."""

    def __init__(self, file: BinaryIO, frames: int) -> None:
        self.file, self.left = file, frames

    def write(self, data: object) -> int:
        if self.left == 0:
            raise FULL
        self.left -= 1
        return self.file.write(data)


def test_full_disk_while_building_a_cache_keeps_the_previous_cache(tmp_path: Path, monkeypatch) -> None:
    write_dataset(tmp_path / "data", train=[8, 8], test=[])
    split = tmp_path / "data" / "training" / "frames"
    cache = tmp_path / "cache"
    old = load_frame_store(list_videos(split), cache, "toy", "training", 16, 16)
    old_files = {p: p.read_bytes() for p in cache.iterdir()}
    os.utime(split / "01" / "000.png", ns=(1, 1))  # the source changed: a new cache is built
    real_writing = frames_mod.writing_cache

    @contextmanager
    def full_after_three(*args: object) -> Iterator[object]:
        with real_writing(*args) as file:
            yield _FillsUp(file, frames=3)

    monkeypatch.setattr(frames_mod, "writing_cache", full_after_three)
    with pytest.raises(LnraError, match=r"cannot write the frame cache .*_16x16_\w+\.npy: disk full"):
        load_frame_store(list_videos(split), cache, "toy", "training", 16, 16)
    assert {p: p.read_bytes() for p in cache.iterdir()} == old_files  # nothing new, nothing lost
    np.testing.assert_array_equal(np.load(next(p for p in old_files if p.suffix == ".npy")), old.frames)

    monkeypatch.setattr(frames_mod, "writing_cache", real_writing)  # space was freed
    new = load_frame_store(list_videos(split), cache, "toy", "training", 16, 16)
    np.testing.assert_array_equal(new.frames, old.frames)


def _evaluation() -> Evaluation:
    n = 4
    return Evaluation(auc_micro=0.9, auc_macro=0.8, auc_micro_global=0.85,
                      video_index=np.zeros(n, int), frame_index=np.arange(n), psnr=np.ones(n),
                      anomaly_score=np.zeros(n), labels=np.zeros(n, int),
                      videos=TestVideos(("v",), (np.zeros(n + 15, int),)))


@pytest.mark.parametrize(("error", "reason"), [(FULL, "disk full"), (READ_ONLY, "no permission")])
def test_failed_results_write_leaves_no_results_file(tmp_path: Path, monkeypatch, error: OSError,
                                                     reason: str) -> None:
    def fails(src: object, dst: object) -> None:
        raise error

    monkeypatch.setattr(diskio.os, "replace", fails)
    with pytest.raises(LnraError, match=rf"cannot write results {tmp_path / 'results.json'}: {reason}"):
        results_mod.write_results(tmp_path, _evaluation(), {}, [])
    assert not (tmp_path / "results.json").exists()  # a resumed sweep would take it for a finished job
    assert not list(tmp_path.glob(".results*partial*"))


# A run whose checkpoint writes fail from the second epoch on, as on a disk that fills up.
FILLS_UP = """
import errno, os, runpy, sys, torch
real_save = torch.save
def save(obj, f, *args, **kwargs):
    if isinstance(obj, dict) and obj.get("epoch", 0) >= 1:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_save(obj, f, *args, **kwargs)
torch.save = save
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.slow  # two short training runs: ~40 s on the shared 2-core machine
def test_a_run_stopped_by_a_full_disk_resumes_after_space_is_freed(tmp_path: Path) -> None:
    env = child_env()
    command = [str(REPO / "run.py"), *tmp_paths(tmp_path), *TINY_DATASET, "model.net.widths=[8,8,8,8]",
               "trainer.max_epochs=3", "~logger", "trainer.enable_progress_bar=false",
                   "callbacks.pictures.timelines=false"]
    full = subprocess.run([sys.executable, "-c", FILLS_UP, *command], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert full.returncode == 2, full.stdout[-3000:] + full.stderr[-3000:]
    (line,) = [ln for ln in full.stderr.splitlines() if ln.startswith("error: ")]
    assert "cannot write checkpoint" in line and "disk full" in line and "free there" in line
    (run_dir,) = (tmp_path / "outputs" / "runs").iterdir()
    last = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 0  # epoch 0's, intact
    resumed = subprocess.run([sys.executable, *command, "resume=true"], env=env, capture_output=True,
                             text=True, timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / "results.json").read_text())["epoch"] == 2
    print(f"\n{line}")
