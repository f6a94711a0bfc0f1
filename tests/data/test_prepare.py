"""``python -m lnra.data.prepare`` on tiny archives in each official format, checked exactly."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers.paths import REPO
from helpers.releases import (
    AVENUE_TEST,
    AVENUE_TRAIN,
    SHANGHAI_TEST,
    SHANGHAI_TRAIN,
    UCSD_LABELS,
    UCSD_M,
    UCSD_TEST,
    UCSD_TRAIN,
    avenue_release,
    random_frames,
    shanghai_release,
    ucsd_masks,
    ucsd_release,
)
from PIL import Image
from scipy.io import savemat

from lnra.data import releases
from lnra.data.frames import list_videos
from lnra.data.labels import paper_label_file
from lnra.data.prepare import main, prepare
from lnra.data.releases import OFFICIAL_TEST_FRAMES, parse_ucsd_gt
from lnra.errors import LnraError
from lnra.loading.datamodule import VideoDataModule


def _read_back(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(f)) for f in sorted(folder.iterdir())])


def _labels(out: Path, name: str) -> np.ndarray:
    labels = np.load(out / name / f"frame_labels_{name}.npy")
    assert labels.shape[0] == 1 and labels.dtype == np.uint8
    return labels[0]


# -- UCSD Ped2 -------------------------------------------------------------------------------------
def test_parse_ucsd_ground_truth() -> None:
    assert parse_ucsd_gt(UCSD_M) == [[(3, 5)], [(1, 2), (6, 9)], [(4, 4)]]


@pytest.mark.parametrize("packed", [True, False], ids=["tar.gz", "folder"])
def test_prepare_ped2(tmp_path: Path, packed: bool) -> None:
    release = ucsd_release(tmp_path / "src")
    source = release
    if packed:
        source = tmp_path / "UCSD_Anomaly_Dataset.tar.gz"
        with tarfile.open(source, "w:gz") as tar:
            tar.add(release, arcname=release.name)
    main(["ped2", "--source", str(source), "--out", str(tmp_path / "out"), "--ext", "png"])
    out = tmp_path / "out" / "ped2"
    for split, lengths, seed in (("training", UCSD_TRAIN, 0), ("testing", UCSD_TEST, 10)):
        listing = list_videos(out / split / "frames")
        assert listing.names == [f"{v:02d}" for v in range(1, len(lengths) + 1)]  # Test002_gt skipped
        assert listing.lengths == lengths
        for v, length in enumerate(lengths, start=1):
            np.testing.assert_array_equal(_read_back(out / split / "frames" / f"{v:02d}"),
                                          random_frames(seed + v, length, (12, 18)))
    assert _labels(tmp_path / "out", "ped2").tolist() == UCSD_LABELS
    dm = VideoDataModule("ped2", out, tmp_path / "cache", 16, 16)  # the layout run.py reads
    dm.check_test_split()
    labels = dm.test_videos().labels
    assert [v.tolist() for v in labels] == [UCSD_LABELS[:6], UCSD_LABELS[6:15], UCSD_LABELS[15:]]
    store = dm.pixel_masks()  # the Test0NN_gt bitmaps, in the frames' layout and order
    assert (store.height, store.width) == (12, 18)
    np.testing.assert_array_equal(store.masks(np.arange(sum(UCSD_TEST))), np.concatenate(ucsd_masks()))


def test_ped2_mask_count_must_match_the_video(tmp_path: Path) -> None:
    release = ucsd_release(tmp_path / "src")
    (release / "UCSDped2" / "Test" / "Test003_gt" / "004.bmp").unlink()
    with pytest.raises(LnraError, match=r"video 03 has 4 frames but its pixel ground truth .*_gt has 3"):
        prepare("ped2", release, tmp_path / "out", log=lambda _: None)
    assert not (tmp_path / "out").exists()  # nothing left, not even the --out folder


def test_ped2_range_beyond_the_video_is_refused(tmp_path: Path) -> None:
    release = ucsd_release(tmp_path / "src")
    (release / "UCSDped2" / "Test" / "UCSDped2.m").write_text(UCSD_M.replace("[4]", "[3:5]"))
    with pytest.raises(LnraError, match=r"range \[3:5\] of test video Test003 lies outside its 4 frames"):
        prepare("ped2", release, tmp_path / "out", log=lambda _: None)
    assert not (tmp_path / "out").exists()  # nothing left, not even the --out folder


def test_ped2_gt_lines_must_match_the_test_videos(tmp_path: Path) -> None:
    release = ucsd_release(tmp_path / "src")
    (release / "UCSDped2" / "Test" / "UCSDped2.m").write_text(UCSD_M.rsplit("TestVideoFile", 1)[0])
    with pytest.raises(LnraError, match="has 2 gt_frame lines but .* has 3 test videos"):
        prepare("ped2", release, tmp_path / "out", log=lambda _: None)


def test_cli_says_what_it_wrote_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    release = ucsd_release(tmp_path / "src")
    out = tmp_path / "out"
    args = ["ped2", "--source", str(release), "--out", str(out)]
    main(args)
    said = capsys.readouterr().out
    assert f"ped2 training: 2 videos, 12 frames -> {out / 'ped2'}/training/frames" in said
    assert "ped2 testing: 3 videos, 19 frames" in said
    assert "ped2 labels: labels from the official ground truth, 19 test frames, 10 anomalous" in said
    assert "the paper's ped2 labels cover 2010 test frames but this source has 19" in said
    assert "the official ped2 release has 2010 test frames" in said
    frame = out / "ped2" / "training" / "frames" / "01" / "0000.jpg"
    before = frame.read_bytes()
    again = subprocess.run([sys.executable, "-m", "lnra.data.prepare", *args], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 2
    assert again.stderr.startswith("error: ")
    assert "already exists and is not empty; add --overwrite" in again.stderr
    assert frame.read_bytes() == before
    (release / "UCSDped2" / "Train" / "Train002").rename(tmp_path / "moved")
    main([*args, "--overwrite"])
    assert list_videos(out / "ped2" / "training" / "frames").names == ["01"]
    assert sorted(p.name for p in out.iterdir()) == ["ped2"]  # no staging folder left


# -- CUHK Avenue -----------------------------------------------------------------------------------
def test_prepare_avenue(tmp_path: Path) -> None:
    source = avenue_release(tmp_path / "Avenue Dataset")
    logged: list[str] = []
    prepare("avenue", source, tmp_path / "out", ext="png", log=logged.append)
    out = tmp_path / "out" / "avenue"
    for split, lengths, seed in (("training", AVENUE_TRAIN, 0), ("testing", AVENUE_TEST, 10)):
        listing = list_videos(out / split / "frames")
        assert listing.names == ["01", "02"] and listing.lengths == lengths
        for v, length in enumerate(lengths, start=1):
            np.testing.assert_array_equal(_read_back(out / split / "frames" / f"{v:02d}"),
                                          random_frames(seed + v, length, (16, 24, 3)))
    assert _labels(tmp_path / "out", "avenue").tolist() == [0, 0, 1, 1, 0, 0] + [1, 0, 0, 0]
    assert f"avenue testing: 2 videos, 10 frames -> {out}/testing/frames" in logged
    masks = VideoDataModule("avenue", out, tmp_path / "cache", 16, 16).pixel_masks()
    flat = masks.masks(np.arange(10))
    assert flat.shape == (10, 16, 24) and flat.sum() == 3
    assert flat[2, 5, 5] and flat[3, 6, 5] and flat[6, 3, 5]  # volLabel pixel (3 + t, 5) of each frame


def test_avenue_mask_count_must_match_the_video(tmp_path: Path) -> None:
    source = avenue_release(tmp_path / "src")
    cells = np.empty((1, 5), dtype=object)
    for t in range(5):
        cells[0, t] = np.zeros((16, 24), np.uint8)
    savemat(source / "ground_truth_demo" / "testing_label_mask" / "1_label.mat", {"volLabel": cells})
    with pytest.raises(LnraError, match=r"video 01 has 6 frames but its ground truth .*1_label.mat covers 5"):
        prepare("avenue", source, tmp_path / "out", log=lambda _: None)
    assert not (tmp_path / "out").exists()  # nothing left, not even the --out folder


# -- ShanghaiTech ----------------------------------------------------------------------------------
def test_prepare_shanghai(tmp_path: Path) -> None:
    source = shanghai_release(tmp_path / "shanghaitech")
    prepare("shanghai", source, tmp_path / "out", ext="png", log=lambda _: None)
    out = tmp_path / "out" / "shanghai"
    train = list_videos(out / "training" / "frames")
    assert dict(zip(train.names, train.lengths, strict=True)) == SHANGHAI_TRAIN
    np.testing.assert_array_equal(_read_back(out / "training" / "frames" / "02_001"),
                                  random_frames(1, 5, (16, 32, 3)))
    test = list_videos(out / "testing" / "frames")
    assert test.names == list(SHANGHAI_TEST) and test.lengths == [5, 7]
    for name in SHANGHAI_TEST:  # the test JPEGs are copied byte for byte
        sources = sorted((source / "testing" / "frames" / name).iterdir())
        copies = sorted((out / "testing" / "frames" / name).iterdir())
        assert [c.read_bytes() for c in copies] == [s.read_bytes() for s in sources]
    assert _labels(tmp_path / "out", "shanghai").tolist() == [x for v in SHANGHAI_TEST.values() for x in v]


@pytest.mark.parametrize(("damage", "message"), [
    ("extra_mask", r"do not pair up; unmatched: 03_0059"),
    ("short_mask", r"test video 12_0151 has 7 frames but its ground truth .*12_0151.npy covers 6"),
])
def test_shanghai_ground_truth_must_pair_with_the_frames(tmp_path: Path, damage: str, message: str) -> None:
    source = shanghai_release(tmp_path / "src")
    masks = source / "testing" / "test_frame_mask"
    if damage == "extra_mask":
        np.save(masks / "03_0059.npy", np.zeros(4))
    else:
        np.save(masks / "12_0151.npy", np.zeros(6))
    with pytest.raises(LnraError, match=message):
        prepare("shanghai", source, tmp_path / "out", log=lambda _: None)


def test_missing_source_parts_are_named(tmp_path: Path) -> None:
    with pytest.raises(LnraError, match="source not found"):
        prepare("avenue", tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LnraError, match="Avenue ground truth folder not found: .*testing_label_mask"):
        prepare("avenue", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(LnraError, match="no UCSDped2"):
        prepare("ped2", tmp_path / "empty", tmp_path / "out")


@pytest.mark.parametrize("choice", ["paper", "ground_truth"])
def test_the_papers_labels_are_written_by_default_and_compared_per_video(tmp_path: Path, monkeypatch,
                                                                           choice: str) -> None:
    # a stand-in for the shipped paper labels of a release of this size: 2 frames differ, in videos 01 and 03
    paper = np.array(UCSD_LABELS, np.uint8)
    paper[[0, 16]] = 1 - paper[[0, 16]]
    np.save(tmp_path / "paper.npy", paper[None])
    monkeypatch.setattr(releases, "paper_label_file", lambda name: tmp_path / "paper.npy")
    logged: list[str] = []
    args = [] if choice == "paper" else ["--labels", "ground_truth"]
    main(["ped2", "--source", str(ucsd_release(tmp_path / "src")), "--out", str(tmp_path / "out"), *args])
    prepare("ped2", ucsd_release(tmp_path / "src2"), tmp_path / "out2", log=logged.append, labels=choice)
    expected = paper if choice == "paper" else np.array(UCSD_LABELS)
    assert _labels(tmp_path / "out", "ped2").tolist() == _labels(tmp_path / "out2", "ped2").tolist()
    assert _labels(tmp_path / "out", "ped2").tolist() == expected.tolist()
    assert ("ped2 frames where the paper's labels differ from the official ground truth: 2 in all; "
            "per video: 01 1, 02 0, 03 1") in logged


def test_shipped_paper_labels_have_the_official_test_frame_counts() -> None:
    for name, total in OFFICIAL_TEST_FRAMES.items():
        labels = np.load(paper_label_file(name))
        assert labels.shape == (1, total) and set(np.unique(labels).tolist()) == {0, 1}
