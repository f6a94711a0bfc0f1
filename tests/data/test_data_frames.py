"""The frame listing and the decoded-frame cache (lnra.data.frames) on small videos written here."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers.data import marked_video, write_dataset, write_video
from PIL import Image

from lnra.data import frames as frames_mod
from lnra.data.frames import list_videos, load_frame_store
from lnra.data.pixels import to_unit_range
from lnra.errors import LnraError


def _store(root: Path, cache: Path, size: int = 16, split: str = "training"):
    return load_frame_store(list_videos(root / split / "frames"), cache, "toy", split, size, size)


def _npy(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.endswith(".npy"))


def test_frames_are_ordered_by_number_not_by_name_width(tmp_path: Path) -> None:
    # ShanghaiTech-style names start at 1 and may not be zero-padded: 1.jpg … 12.jpg.
    names = [f"{t}.png" for t in range(1, 13)]
    write_video(tmp_path / "training" / "frames" / "01_001", marked_video(1, 12), names)
    mixed = ["9.png", "10.png", "011.png"]
    write_video(tmp_path / "training" / "frames" / "01_002", marked_video(2, 3), mixed)
    listing = list_videos(tmp_path / "training" / "frames")
    assert listing.names == ["01_001", "01_002"]
    assert [f.name for f in listing.files[0]] == names
    assert [f.name for f in listing.files[1]] == ["9.png", "10.png", "011.png"]
    store = _store(tmp_path, tmp_path / "cache")
    assert store.video(0)[:, 0, 1].tolist() == list(range(12))  # position k holds frame number k+1


def test_videos_in_sorted_order_and_non_frames_ignored(tmp_path: Path) -> None:
    write_dataset(tmp_path, train=[3, 4, 5], test=[])
    (tmp_path / "training" / "frames" / "02" / "notes.txt").write_text("not a frame")
    listing = list_videos(tmp_path / "training" / "frames")
    assert listing.names == ["01", "02", "03"]
    assert listing.lengths == [3, 4, 5]


def test_missing_split_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(LnraError, match="dataset folder not found: .*testing/frames"):
        list_videos(tmp_path / "testing" / "frames")


def test_empty_video_folder_is_named(tmp_path: Path) -> None:
    write_dataset(tmp_path, train=[4], test=[])
    (tmp_path / "training" / "frames" / "02").mkdir()
    with pytest.raises(LnraError, match=r"video folder .*frames/02 holds no frames"):
        list_videos(tmp_path / "training" / "frames")


def test_split_without_videos(tmp_path: Path) -> None:
    (tmp_path / "training" / "frames").mkdir(parents=True)
    with pytest.raises(LnraError, match="no video folders in"):
        list_videos(tmp_path / "training" / "frames")


def test_cache_holds_grayscale_frames_resized_and_offsets(tmp_path: Path) -> None:
    write_dataset(tmp_path, train=[5, 7], test=[])
    colour = np.zeros((16, 16, 3), np.uint8)
    colour[..., 1] = 200  # pure green: luma 0.587 * 200 = 117.4
    Image.fromarray(colour).save(tmp_path / "training" / "frames" / "02" / "006.png")
    store = _store(tmp_path, tmp_path / "cache")
    assert store.frames.shape == (12, 16, 16) and store.frames.dtype == np.uint8
    assert store.offsets.tolist() == [0, 5, 12]
    np.testing.assert_array_equal(store.video(0), marked_video(1, 5))
    assert int(store.video(1)[6, 5, 5]) == 117
    half = _store(tmp_path, tmp_path / "cache", size=32)
    assert half.frames.shape == (12, 32, 32)
    assert int(half.video(0)[0, 20, 20]) == 10  # flat regions keep their value when resized



def test_a_store_pickled_to_a_spawned_worker_still_gathers_past_the_release(tmp_path: Path,
                                                                            monkeypatch) -> None:
    """A DataLoader worker started by spawn (macOS; forkserver, Linux from Python 3.14) gets the store
    pickled: its frames are no longer a map whose pages could be dropped, and reading goes on."""
    write_dataset(tmp_path, train=[5, 7], test=[])
    store = _store(tmp_path, tmp_path / "cache")
    monkeypatch.setattr(frames_mod, "RELEASE_BYTES", 1)
    worker = pickle.loads(pickle.dumps(store))
    for copy in (store, worker):  # the mapped one drops its pages; both give the frames
        np.testing.assert_array_equal(copy.gather(np.array([0, 6])), store.frames[[0, 6]])
        np.testing.assert_array_equal(copy.gather(slice(5, 12)), marked_video(2, 7))

def test_cache_is_built_once_then_reused_without_decoding(tmp_path: Path, monkeypatch) -> None:
    write_dataset(tmp_path, train=[6, 6], test=[])
    first = np.array(_store(tmp_path, tmp_path / "cache").frames)

    def no_decoding(path: Path) -> np.ndarray:
        raise AssertionError(f"decoded {path} although the cache exists")

    monkeypatch.setattr(frames_mod, "read_frame", no_decoding)
    again = _store(tmp_path, tmp_path / "cache")
    assert isinstance(again.frames, np.memmap)
    np.testing.assert_array_equal(again.frames, first)
    assert len(_npy(tmp_path / "cache")) == 1


def test_changed_frame_or_resolution_builds_a_new_cache_and_keeps_the_old(tmp_path: Path) -> None:
    write_dataset(tmp_path, train=[4], test=[])
    cache = tmp_path / "cache"
    old = np.array(_store(tmp_path, cache).frames)
    frame = tmp_path / "training" / "frames" / "01" / "002.png"
    Image.fromarray(np.full((16, 16), 99, np.uint8)).save(frame)
    os.utime(frame, ns=(1, 1))  # a different mtime even on coarse-clock file systems
    new = _store(tmp_path, cache)
    assert int(new.frames[2, 5, 5]) == 99
    np.testing.assert_array_equal(new.frames[[0, 1, 3]], old[[0, 1, 3]])
    assert len(_npy(cache)) == 2
    _store(tmp_path, cache, size=32)
    names = _npy(cache)
    assert len(names) == 3 and sum("32x32" in n for n in names) == 1


def test_interrupted_build_leaves_no_cache(tmp_path: Path, monkeypatch) -> None:
    write_dataset(tmp_path, train=[8, 8], test=[])
    real_read = frames_mod.read_frame
    calls = []

    def failing(path: Path) -> np.ndarray:
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_read(path)

    monkeypatch.setattr(frames_mod, "read_frame", failing)
    with pytest.raises(KeyboardInterrupt):
        _store(tmp_path, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
    monkeypatch.setattr(frames_mod, "read_frame", real_read)
    store = _store(tmp_path, tmp_path / "cache")
    np.testing.assert_array_equal(store.video(1), marked_video(2, 8))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_unreadable_frame_is_named_and_no_cache_is_left(tmp_path: Path, damage: str) -> None:
    write_dataset(tmp_path, train=[6], test=[])
    bad = tmp_path / "training" / "frames" / "01" / "003.jpg"
    if damage == "garbage":
        bad.write_bytes(b"this is not an image")
    else:
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(bad, quality=95)
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    with pytest.raises(LnraError, match=r"cannot read frame .*01/003\.jpg: (not an image|the JPEG data)"):
        _store(tmp_path, tmp_path / "cache")
    assert _npy(tmp_path / "cache") == []


def test_mixed_frame_sizes_are_resized_with_one_warning(tmp_path: Path, caplog) -> None:
    write_dataset(tmp_path, train=[3, 3, 3], test=[])
    for video in ("01", "03"):
        bigger = Image.fromarray(np.full((24, 20), 50, np.uint8))
        bigger.save(tmp_path / "training" / "frames" / video / "001.png")
    with caplog.at_level(logging.WARNING, logger="lnra.data.frames"):
        store = _store(tmp_path, tmp_path / "cache")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "2 video(s)" in warnings[0] and "01" in warnings[0] and "03" in warnings[0]
    assert int(store.frames[1, 8, 8]) == 50 and store.frames.shape == (9, 16, 16)


def test_damaged_cache_file_is_rebuilt(tmp_path: Path, caplog) -> None:
    write_dataset(tmp_path, train=[5], test=[])
    cache = tmp_path / "cache"
    _store(tmp_path, cache)
    (data_file,) = cache.glob("*.npy")
    data_file.write_bytes(data_file.read_bytes()[:100])  # e.g. a disk that ran full
    with caplog.at_level(logging.WARNING, logger="lnra.data.frames"):
        store = _store(tmp_path, cache)
    assert "unreadable" in caplog.text
    np.testing.assert_array_equal(store.frames, marked_video(1, 5))


def _opencv_reference(path: Path, height: int, width: int) -> np.ndarray:
    """The reference reader of docs/method.md §1, spelled out with OpenCV's own calls."""
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return img if img.shape == (height, width) else cv2.resize(img, (width, height))


def test_colour_jpeg_is_cached_as_opencv_gray_read_and_resize(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    smooth = cv2.resize(coarse, (45, 30), interpolation=cv2.INTER_CUBIC)
    colour = np.clip(smooth.astype(int) + rng.integers(-40, 41, smooth.shape), 0, 255).astype(np.uint8)
    folder = tmp_path / "training" / "frames" / "01"
    folder.mkdir(parents=True)
    paths = [folder / f"{t:03d}.jpg" for t in range(2)]
    for path, image in zip(paths, (colour, colour[::-1]), strict=True):
        Image.fromarray(image).save(path, quality=90)
    store = _store(tmp_path, tmp_path / "cache", size=16)
    expected = np.stack([_opencv_reference(p, 16, 16) for p in paths])
    np.testing.assert_array_equal(store.frames, expected)
    # the reader's decode is the JPEG decoder's gray output, which differs from PIL's RGB → L
    pil = np.stack([cv2.resize(np.asarray(Image.open(p).convert("L")), (16, 16)) for p in paths])
    assert (pil != expected).any()


def test_to_unit_range_is_x_over_127_5_minus_1() -> None:
    frames = torch.arange(256, dtype=torch.uint8)
    scaled = to_unit_range(frames)
    assert scaled.dtype == torch.float32 and scaled[0] == -1 and scaled[255] == 1
    expected = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    assert (scaled.double() - expected).abs().max() < 1e-7


def test_caches_of_another_reader_are_not_reused(tmp_path: Path, monkeypatch) -> None:
    write_dataset(tmp_path, train=[3], test=[])
    _store(tmp_path, tmp_path / "cache")
    monkeypatch.setattr(frames_mod, "READER", "pil-convert-L+float-bilinear")
    _store(tmp_path, tmp_path / "cache")
    assert len(_npy(tmp_path / "cache")) == 2


def test_real_ped2_frames_are_cached_as_opencv_reads_them(shared_data: Path, tmp_path: Path) -> None:
    # one training video (180 frames, 360x240 JPEG) at the reduced resolution of experiment=ped2_small
    video = shared_data / "ped2" / "training" / "frames" / "01"
    listing = frames_mod.VideoListing(video.parent, [video.name], [sorted(video.glob("*.jpg"))])
    store = load_frame_store(listing, tmp_path / "cache", "ped2", "training", 64, 64)
    expected = np.stack([_opencv_reference(p, 64, 64) for p in listing.files[0]])
    np.testing.assert_array_equal(store.frames, expected)
