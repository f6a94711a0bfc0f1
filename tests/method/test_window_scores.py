"""The window scores of an evaluation pass: every window once, per video in order, over every rank."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lnra.data.labels import TestVideos
from lnra.method.module import IncompleteScoresError, WindowScores
from lnra.method.scoring import evaluate

# Two videos of 18 and 19 frames: 3 + 4 windows of 16 frames.
LABELS = (np.r_[np.zeros(9, int), 1, np.zeros(8, int)], np.r_[np.zeros(8, int), 1, 1, np.zeros(9, int)])
VIDEOS = TestVideos(("01", "02"), LABELS)
PSNR = (np.array([30.0, 20.0, 25.0]), np.array([10.0, 12.0, 11.0, 14.0]))
WINDOWS = [(v, w) for v, p in enumerate(PSNR) for w in range(len(p))]


def _update(scores: WindowScores, windows: list[tuple[int, int]]) -> None:
    video, window = (torch.tensor(column) for column in zip(*windows, strict=True))
    psnr = torch.tensor([PSNR[v][w] for v, w in windows], dtype=torch.float32)
    scores.update(psnr, video, window, VIDEOS)


def _assert_expected(evaluation) -> None:
    expected = evaluate(list(PSNR), VIDEOS, 16)
    assert evaluation.auc_micro == expected.auc_micro and evaluation.auc_macro == expected.auc_macro
    np.testing.assert_array_equal(evaluation.psnr, expected.psnr)
    np.testing.assert_array_equal(evaluation.video_index, expected.video_index)
    assert evaluation.videos.names == VIDEOS.names
    assert all(map(np.array_equal, evaluation.videos.labels, VIDEOS.labels))


def test_windows_in_any_order_and_padded_duplicates_give_the_protocols_evaluation() -> None:
    scores = WindowScores(stage="test")
    order = [WINDOWS[i] for i in (6, 0, 3, 2, 5)]
    _update(scores, order)
    _update(scores, [WINDOWS[1], WINDOWS[4], WINDOWS[0]])  # window (0, 0) again, as a sampler pads
    _assert_expected(scores.compute())


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric WindowScores was called before")
def test_a_partial_pass_names_the_stage_and_the_window_counts() -> None:
    scores = WindowScores(stage="val")
    _update(scores, WINDOWS[:5])
    message = ("^val scored 5 of the 7 test windows: the AUC is defined over every window; "
               "remove trainer.limit_val_batches$")
    with pytest.raises(IncompleteScoresError, match=message):
        scores.compute()
    scores.reset()
    with pytest.raises(IncompleteScoresError, match="val scored 0 of the 7 test windows"):
        empty = torch.zeros(0, dtype=torch.long)
        scores.update(empty.float(), empty, empty, VIDEOS)  # a pass whose batches held no window
        scores.compute()


def _rank(rank: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        scores = WindowScores(stage="test")
        # rank 0 scores 4 windows, rank 1 the other 3 plus a padded repeat of rank 0's first one
        _update(scores, WINDOWS[:4] if rank == 0 else [*WINDOWS[4:], WINDOWS[0]])
        _assert_expected(scores.compute())
    finally:
        dist.destroy_process_group()


def test_two_ranks_gather_every_window_once() -> None:
    """As under ``trainer=ddp``; a failed assertion in a rank fails ``mp.spawn``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(port,), nprocs=2)
