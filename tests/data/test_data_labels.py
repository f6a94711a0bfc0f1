"""Finding and checking the frame labels, including the real label files of all three datasets."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from helpers.data import write_dataset, write_stub_videos

import lnra
from lnra.data.labels import find_label_file, load_labels, paper_label_file
from lnra.errors import LnraError
from lnra.loading.datamodule import VideoDataModule
from lnra.run.builders import build_datamodule

PED2_TEST_LENGTHS = [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]
AVENUE_TEST_LENGTHS = [1439, 1211, 923, 947, 1007, 1283, 605, 36, 1175, 841, 472, 1271, 549, 507, 1001,
                       740, 426, 294, 248, 273, 76]
SHANGHAI_TEST_VIDEOS = 107
SHANGHAI_TEST_FRAMES = 40791


def test_labels_found_in_dataset_folder_then_in_the_labels_folder(tmp_path: Path) -> None:
    root = tmp_path / "toy"
    root.mkdir()
    (tmp_path / "labels").mkdir()
    np.save(tmp_path / "labels" / "frame_labels_toy.npy", np.zeros((1, 3)))
    assert find_label_file("toy", root, None) == tmp_path / "labels" / "frame_labels_toy.npy"
    np.save(root / "frame_labels_toy.npy", np.zeros((1, 3)))
    assert find_label_file("toy", root, None) == root / "frame_labels_toy.npy"
    np.save(tmp_path / "mine.npy", np.zeros((1, 3)))
    assert find_label_file("toy", root, tmp_path / "mine.npy") == tmp_path / "mine.npy"


@pytest.mark.parametrize("name", ["ped2", "avenue", "shanghai"])
def test_the_papers_labels_are_the_default_of_the_three_datasets(tmp_path: Path, name: str) -> None:
    shipped = find_label_file(name, tmp_path / name, None)
    assert shipped == paper_label_file(name) and shipped.is_file()
    assert Path(lnra.__file__).parent / "data" / "paper_labels" == shipped.parent  # inside the package


def test_a_label_file_on_disk_wins_and_is_reported_when_it_differs(tmp_path: Path, caplog) -> None:
    paper = np.load(paper_label_file("avenue"))
    (tmp_path / "avenue").mkdir()
    mine = paper.copy()
    mine[0, :441] = 1 - mine[0, :441]  # e.g. labels derived from the pixel masks
    np.save(tmp_path / "avenue" / "frame_labels_avenue.npy", mine)
    with caplog.at_level(logging.WARNING, logger="lnra.data.labels"):
        found = find_label_file("avenue", tmp_path / "avenue", None)
    assert found == tmp_path / "avenue" / "frame_labels_avenue.npy"
    assert "differ from the paper's avenue labels on 441 of 15324 frames" in caplog.text
    caplog.clear()
    np.save(tmp_path / "avenue" / "frame_labels_avenue.npy", paper)
    with caplog.at_level(logging.WARNING, logger="lnra.data.labels"):
        find_label_file("avenue", tmp_path / "avenue", None)
    assert caplog.text == ""


def test_missing_labels_name_every_place_looked_at(tmp_path: Path) -> None:
    with pytest.raises(LnraError) as err:
        find_label_file("toy", tmp_path / "toy", None)
    message = str(err.value)
    assert str(tmp_path / "toy" / "frame_labels_toy.npy") in message
    assert str(tmp_path / "labels" / "frame_labels_toy.npy") in message
    with pytest.raises(LnraError, match="looked at .*elsewhere.npy"):
        find_label_file("avenue", tmp_path / "avenue", tmp_path / "elsewhere.npy")


def test_labels_split_per_video_in_sorted_order(tmp_path: Path) -> None:
    labels = np.array([[0, 0, 1, 1, 1, 0, 1]])
    np.save(tmp_path / "l.npy", labels)
    per_video = load_labels(tmp_path / "l.npy", [3, 4])
    assert [v.tolist() for v in per_video] == [[0, 0, 1], [1, 1, 0, 1]]


def test_labels_of_wrong_length_give_both_numbers(tmp_path: Path) -> None:
    np.save(tmp_path / "l.npy", np.zeros((1, 100), np.uint8))
    with pytest.raises(LnraError, match=r"has 100 labels but the 2 test videos have 99 frames"):
        load_labels(tmp_path / "l.npy", [50, 49])


@pytest.mark.parametrize(("content", "message"), [
    (np.array([[0, 2, 1]]), r"holds values \[0, 1, 2\]"),
    (np.zeros((2, 3)), r"has shape \(2, 3\)"),
])
def test_labels_with_bad_values_or_shape(tmp_path: Path, content: np.ndarray, message: str) -> None:
    np.save(tmp_path / "l.npy", content)
    with pytest.raises(LnraError, match=message):
        load_labels(tmp_path / "l.npy", [3])


def test_hydra_config_finds_labels_in_data_dir_labels(tmp_path: Path, compose_cfg) -> None:
    """The layout of ../shared/data: <data_dir>/ped2/... and <data_dir>/labels/frame_labels_ped2.npy."""
    data = tmp_path / "somewhere"
    write_dataset(data / "ped2", train=[17], test=[20, 18])
    (data / "labels").mkdir()
    np.save(data / "labels" / "frame_labels_ped2.npy", np.r_[np.zeros(20), np.ones(18)][None].astype(np.int8))
    dm = build_datamodule(compose_cfg("dataset=ped2", f"paths.data_dir={data}"))
    dm.check_test_split()
    assert dm.test_videos().names == ("01", "02")
    assert [v.sum() for v in dm.test_videos().labels] == [0, 18]
    np.save(data / "labels" / "frame_labels_ped2.npy", np.zeros((1, 37)))
    with pytest.raises(LnraError, match="has 37 labels but the 2 test videos have 38 frames"):
        build_datamodule(compose_cfg("dataset=ped2", f"paths.data_dir={data}")).check_test_split()


def _check_real_labels(shared: Path, tmp_path: Path, name: str, lengths: list[int], names: list[str]) -> None:
    write_stub_videos(tmp_path / name / "testing" / "frames", lengths, names)
    dm = VideoDataModule(name, tmp_path / name, tmp_path / "cache", 16, 16,
                         labels_path=shared / "labels" / f"frame_labels_{name}.npy")
    dm.check_test_split()
    assert [len(v) for v in dm.test_videos().labels] == lengths
    real = np.load(shared / "labels" / f"frame_labels_{name}.npy").ravel()
    np.testing.assert_array_equal(np.concatenate(dm.test_videos().labels), real)


def test_real_ped2_labels_match_the_real_frames(shared_data: Path) -> None:
    dm = VideoDataModule("ped2", shared_data / "ped2", shared_data / "unused-cache", 64, 64)
    dm.check_test_split()  # the labels live in <data_dir>/labels, not in ped2/
    assert [len(v) for v in dm.test_videos().labels] == PED2_TEST_LENGTHS
    assert abs(np.concatenate(dm.test_videos().labels).mean() - 0.820) < 1e-3


def test_real_avenue_labels_load_against_videos_of_real_lengths(shared_data: Path, tmp_path: Path) -> None:
    _check_real_labels(shared_data, tmp_path, "avenue", AVENUE_TEST_LENGTHS,
                       [f"{v:02d}" for v in range(1, 22)])


def test_real_shanghai_labels_load_against_107_test_videos(shared_data: Path, tmp_path: Path) -> None:
    """The per-video lengths of ShanghaiTech's test videos are not in the shared data; the total (40,791
    frames over 107 videos, scenes 01..12) is. We check that total with an even split over the real
    number of videos, named like the real ones; a wrong total must still be refused."""
    base, extra = divmod(SHANGHAI_TEST_FRAMES, SHANGHAI_TEST_VIDEOS)
    lengths = [base + (v < extra) for v in range(SHANGHAI_TEST_VIDEOS)]
    names = [f"{1 + v // 9:02d}_{v:04d}" for v in range(SHANGHAI_TEST_VIDEOS)]
    _check_real_labels(shared_data, tmp_path, "shanghai", lengths, names)
    (tmp_path / "shanghai" / "testing" / "frames" / names[-1] / "0000.jpg").unlink()
    dm = VideoDataModule("shanghai", tmp_path / "shanghai", tmp_path / "cache", 16, 16,
                         labels_path=shared_data / "labels" / "frame_labels_shanghai.npy")
    with pytest.raises(LnraError, match="has 40791 labels but the 107 test videos have 40790 frames"):
        dm.check_test_split()
