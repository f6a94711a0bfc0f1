"""Training clips, skip-frame clips and test windows as the datamodule serves them (docs/method.md §1,
§5, §6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from helpers.data import write_dataset
from pytorch_lightning.utilities import move_data_to_device
from torch.utils.data._utils.pin_memory import pin_memory

from lnra.loading.batches import Clips, EvalBatch, TrainBatch, TrainFetch
from lnra.loading.clip_datasets import ShuffledPairs, TestWindows, TrainClips
from lnra.loading.datamodule import VideoDataModule
from lnra.pseudo.selection import PseudoAnomalies
from lnra.pseudo.skip import SkipFrame, skip_frame_indices

TRAIN_LENGTHS = [20, 16, 10, 33]
TEST_LENGTHS = [18, 40]


class ScriptedRng:
    """Stands in for ``np.random.Generator`` and returns the given integers in order."""

    def __init__(self, values: list[int]) -> None:
        self.values = list(values)

    def integers(self, high: int) -> int:
        value = self.values.pop(0)
        assert 0 <= value < high
        return value


@pytest.fixture
def dataset_root(tmp_path: Path) -> Path:
    write_dataset(tmp_path / "toy", train=TRAIN_LENGTHS, test=TEST_LENGTHS)
    np.save(tmp_path / "toy" / "frame_labels_toy.npy", np.zeros((1, sum(TEST_LENGTHS)), np.uint8))
    return tmp_path / "toy"


def _datamodule(root: Path, cache_on_device: bool, p_skip: float = 0.0) -> VideoDataModule:
    pseudo = PseudoAnomalies(skip=SkipFrame(p=p_skip, jump=(2, 3))) if p_skip else None
    return VideoDataModule("toy", root, root.parent / "cache", 16, 16, batch_size=5, eval_batch_size=7,
                           cache_on_device=cache_on_device, pseudo=pseudo)


def _source(clip: torch.Tensor) -> list[tuple[int, int]]:
    """(video, position) of every frame of a uint8 clip (1, T, H, W) written by ``marked_video``."""
    return [(int(f[0, 0]), int(f[0, 1])) for f in clip[0]]


def test_every_16_frame_window_of_every_training_video(dataset_root: Path) -> None:
    dm = _datamodule(dataset_root, cache_on_device=False)
    clips = TrainClips(dm.store("train"), 16, None, gather=True)
    assert len(clips) == 5 + 1 + 0 + 18
    seen = []
    for k in range(len(clips)):
        item = clips[(k, k, 0)]
        assert item.clip.frames.shape == (1, 16, 16, 16) and item.clip.frames.dtype == torch.uint8
        frames = _source(item.clip.frames)
        video, start = frames[0]
        assert frames == [(video, start + t) for t in range(16)]
        seen.append((video, start))
    expected = [(v, i) for v, n in enumerate(TRAIN_LENGTHS, start=1) for i in range(n - 15)]
    assert sorted(seen) == expected


def test_skip_clip_and_target_come_from_one_video_with_one_jump(dataset_root: Path) -> None:
    dm = _datamodule(dataset_root, cache_on_device=False)
    clips = TrainClips(dm.store("train"), 16, (2, 3), gather=True)
    for k in range(60):
        item = clips[(k % len(clips), 7 * k % len(clips), k)]
        skip, target = _source(item.skip.frames), _source(item.skip_target.frames)
        video = skip[0][0]
        assert {v for v, _ in skip + target} == {video}
        last = TRAIN_LENGTHS[video - 1] - 1
        start = skip[0][1]
        assert target == [(video, min(start + t, last)) for t in range(16)]
        steps = {b[1] - a[1] for a, b in zip(skip, skip[1:], strict=False) if b[1] < last}
        assert len(steps) <= 1 and steps <= {2, 3}
        jump = steps.pop() if steps else None
        if jump is not None:
            assert skip == [(video, min(start + jump * t, last)) for t in range(16)]


def test_train_epoch_is_a_shuffled_pass_without_the_last_partial_batch(dataset_root: Path) -> None:
    # 24 training windows in batches of 5: 4 full batches, the last 4 windows of the pass dropped
    dm = _datamodule(dataset_root, cache_on_device=True, p_skip=0.5)
    torch.manual_seed(0)
    loader = dm.train_dataloader()
    assert len(loader) == 4
    epochs = [list(loader), list(loader)]
    for batches in epochs:
        assert [len(b.clip.index) for b in batches] == [5, 5, 5, 5]
        firsts = torch.cat([b.clip.index[:, 0] for b in batches]).tolist()
        assert len(set(firsts)) == 20  # without replacement
        assert firsts != sorted(firsts)  # shuffled
    assert epochs[0][0].clip.index.tolist() != epochs[1][0].clip.index.tolist()  # a new order
    torch.manual_seed(0)
    again = list(dm.train_dataloader())
    for key in ("clip", "skip", "skip_target"):
        assert all(torch.equal(getattr(a, key).index, getattr(b, key).index)
                   for a, b in zip(epochs[0], again, strict=True))
    torch.manual_seed(1)
    assert not torch.equal(next(iter(dm.train_dataloader())).clip.index, epochs[0][0].clip.index)


def test_skip_starts_are_a_second_shuffled_pass_over_all_windows() -> None:
    sampler = ShuffledPairs(24, seed=5)
    passes = [list(sampler), list(sampler)]
    for items in passes:
        clips, starts, seeds = (list(column) for column in zip(*items, strict=True))
        assert sorted(clips) == sorted(starts) == list(range(24))  # each a permutation
        assert starts != clips and len(set(seeds)) == 24
    assert passes[0] != passes[1]  # a new permutation each epoch
    sampler.set_epoch(0)
    assert list(sampler) == passes[0]  # Lightning's set_epoch repeats an epoch exactly
    assert list(ShuffledPairs(24, seed=6)) != passes[0]


def test_skip_clip_starts_at_the_items_skip_start_when_it_fits(dataset_root: Path) -> None:
    dm = _datamodule(dataset_root, cache_on_device=False)
    clips = TrainClips(dm.store("train"), 16, (2,), gather=True)
    # video 4 (33 frames) holds the last 18 windows; with s = 2 its starts 0..3 fit (33 >= i + 30)
    for i in range(4):
        window = len(clips) - 18 + i
        item = clips[(0, window, 123)]
        assert _source(item.skip.frames) == [(4, min(i + 2 * t, 32)) for t in range(16)]
        assert _source(item.clip.frames)[0] == (1, 0)


def test_skip_indices_follow_the_spec_when_the_clip_fits() -> None:
    skip, target = skip_frame_indices(ScriptedRng([1]), 100, 7, (2, 4), 16)
    assert skip.tolist() == list(range(7, 7 + 16 * 4, 4))
    assert target.tolist() == list(range(7, 23))


def test_skip_start_is_redrawn_until_the_clip_fits() -> None:
    # len 40, s=2: a start i fits when 40 >= i + 30. Start 20 does not; draws 35 and 12 do not; 9 does.
    skip, target = skip_frame_indices(ScriptedRng([0, 35, 12, 9]), 40, 20, (2,), 16)
    assert skip.tolist() == list(range(9, 40, 2))
    assert target.tolist() == list(range(9, 25))


def test_skip_gives_up_after_ten_redraws_and_clamps_to_the_last_frame() -> None:
    draws = [30, 31, 32, 33, 34, 35, 36, 37, 38, 25]
    rng = ScriptedRng([0, *draws])
    skip, target = skip_frame_indices(rng, 40, 39, (5,), 16)
    assert rng.values == []  # exactly ten redraws
    assert skip.tolist() == [min(25 + 5 * t, 39) for t in range(16)]
    assert target.tolist() == [min(25 + t, 39) for t in range(16)]


def test_test_windows_cover_len_minus_15_per_video(dataset_root: Path) -> None:
    dm = _datamodule(dataset_root, cache_on_device=False)
    windows = TestWindows(dm.store("test"), dm.test_videos(), gather=True)
    assert len(windows) == sum(n - 15 for n in TEST_LENGTHS)
    for k in range(len(windows)):
        item = windows[k]
        assert _source(item.clip.frames) == [(item.video + 1, item.window + t) for t in range(16)]
    assert [(windows[k].video, windows[k].window) for k in (0, 2, 3, len(windows) - 1)] == [
        (0, 0), (0, 2), (1, 0), (1, 24)]
    batch = next(iter(dm.test_dataloader()))  # fetched as one batch, equal to the items stacked
    stacked = torch.stack([windows[k].clip.frames for k in range(7)])
    torch.testing.assert_close(batch.clip.frames, stacked, rtol=0, atol=0)
    assert batch.video.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert batch.window.tolist() == [0, 1, 2, 0, 1, 2, 3]


def _first_train_batch(dm: VideoDataModule) -> tuple[TrainFetch, TrainBatch]:
    np.random.seed(3)
    torch.manual_seed(3)
    batch = next(iter(dm.train_dataloader()))
    torch.manual_seed(4)
    return batch, dm.on_after_batch_transfer(batch, 0)


def test_cache_on_device_gathers_from_the_in_memory_tensor_like_the_memmap_path(dataset_root: Path) -> None:
    on_host, on_device = _datamodule(dataset_root, False, p_skip=0.5), _datamodule(dataset_root, True, 0.5)
    host_batch, host = _first_train_batch(on_host)
    device_batch, device = _first_train_batch(on_device)
    parts = ("clip", "skip", "skip_target")
    assert all(getattr(host_batch, part).frames is not None for part in parts)
    assert all(getattr(device_batch, part).frames is None for part in parts)  # indices only
    assert "train" in on_device._device_frames and not on_host._device_frames
    for key in ("input", "target", "kind"):
        torch.testing.assert_close(getattr(device, key), getattr(host, key), rtol=0, atol=0)
    assert host.input.shape == (5, 1, 16, 16, 16) and host.input.min() >= -1
    assert (host.kind == 1).any() and (host.kind == 0).any()

    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    for dm in (on_host, on_device):
        dm.trainer = trainer  # not training: the evaluation path
    outs = [dm.on_after_batch_transfer(next(iter(dm.test_dataloader())), 0) for dm in (on_host, on_device)]
    assert isinstance(outs[0], EvalBatch)
    torch.testing.assert_close(outs[1].clip, outs[0].clip, rtol=0, atol=0)
    assert outs[0].clip.shape == (7, 1, 16, 16, 16)


def test_batches_are_pinned_and_moved_to_the_device_field_by_field(dataset_root: Path, monkeypatch) -> None:
    """The DataLoader pins a batch through its ``pin_memory()`` (torch pins only types it knows);
    Lightning moves a dataclass, nested ones included, to the device tensor by tensor."""
    dm = _datamodule(dataset_root, cache_on_device=False, p_skip=0.5)
    batch = next(iter(dm.train_dataloader()))
    pinned = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda t: pinned.append(t) or t.clone())
    copy = pin_memory(batch)  # what the DataLoader's pinning thread calls
    assert isinstance(copy, TrainFetch) and len(pinned) == 6  # index and frames of three clips
    for part in ("clip", "skip", "skip_target"):
        torch.testing.assert_close(getattr(copy, part).frames, getattr(batch, part).frames, rtol=0, atol=0)
    moved = move_data_to_device(batch, torch.device("meta"))
    parts = (moved.clip, moved.skip, moved.skip_target)
    assert isinstance(moved.skip, Clips)
    assert {t.device.type for part in parts for t in (part.index, part.frames)} == {"meta"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs a GPU")
def test_pin_memory_loader_gives_pinned_batches(dataset_root: Path) -> None:
    dm = _datamodule(dataset_root, cache_on_device=False, p_skip=0.5)
    dm.pin_memory = True
    batch = next(iter(dm.train_dataloader()))
    assert batch.clip.frames.is_pinned() and batch.skip_target.index.is_pinned()
    test_batch = next(iter(dm.test_dataloader()))
    assert test_batch.clip.frames.is_pinned() and test_batch.video.is_pinned()


def test_real_ped2_cache_at_64x64(shared_data: Path, tmp_path: Path) -> None:
    dm = VideoDataModule("ped2", shared_data / "ped2", tmp_path / "cache", 64, 64)
    train, test = dm.store("train"), dm.store("test")
    assert (len(train.names), int(train.offsets[-1])) == (16, 2550)
    assert (len(test.names), int(test.offsets[-1])) == (12, 2010)
    assert train.frames.shape == (2550, 64, 64) and test.frames.shape == (2010, 64, 64)
    assert 60 < float(np.asarray(test.frames).mean()) < 200  # real pixels, not an empty array
    assert len(TrainClips(train, 16, None, gather=True)) == 2550 - 16 * 15


def test_real_ped2_epoch_is_577_full_shuffled_batches(shared_data: Path, tmp_path: Path) -> None:
    pseudo = PseudoAnomalies(skip=SkipFrame(p=0.2, jump=(2, 3, 4, 5)))
    dm = VideoDataModule("ped2", shared_data / "ped2", tmp_path / "cache", 64, 64, batch_size=4,
                         cache_on_device=True, pseudo=pseudo)  # indices only: nothing to gather
    loader = dm.train_dataloader()
    batches = list(loader)
    assert len(loader) == len(batches) == 577  # 2,310 clips // 4: the last partial batch (2) dropped
    assert {len(b.clip.index) for b in batches} == {4}
    firsts = torch.cat([b.clip.index[:, 0] for b in batches])
    assert len(set(firsts.tolist())) == 2308 and not bool((firsts.diff() > 0).all())
