"""Intruder sources: real torchvision loaders on small data written here, plus the shared real data."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from data_helpers import write_dataset
from PIL import Image

from lnra.errors import LnraError
from lnra.pseudo.sources import Cifar100Source, ImageFolderSource, TextureSource, VideoClipSource


def write_cifar100(root: Path, n: int = 12) -> np.ndarray:
    """A small archive in torchvision's CIFAR-100 format (``cifar-100-python/{train,test,meta}``);
    returns the training images (n, 32, 32, 3)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, data in (("train", images), ("test", images[:2])):
        entry = {"data": data.transpose(0, 3, 1, 2).reshape(len(data), -1), "fine_labels": [0] * len(data),
                 "coarse_labels": [0] * len(data), "filenames": [f"{i}.png" for i in range(len(data))]}
        (folder / name).write_bytes(pickle.dumps(entry))
    meta = {"fine_label_names": ["apple"], "coarse_label_names": ["fruit"]}
    (folder / "meta").write_bytes(pickle.dumps(meta))
    return images


def gray(rgb: np.ndarray) -> np.ndarray:
    return np.array(Image.fromarray(rgb).convert("L"))


def test_cifar100_is_read_with_torchvision_as_grayscale(tmp_path):
    images = write_cifar100(tmp_path)
    source = Cifar100Source(tmp_path, height=48, width=64)
    assert source.pool.shape == (12, 1, 32, 32) and source.frames == 1
    assert np.array_equal(source.pool[:, 0].numpy(), np.stack([gray(im) for im in images]))


def test_cifar100_official_md5_check_refuses_a_copy_that_is_not_the_official_one(tmp_path):
    write_cifar100(tmp_path)
    with pytest.raises(LnraError, match=r"not the official files \(verify_md5=true\).*cifar-100-python"):
        Cifar100Source(tmp_path, height=32, width=32, verify_md5=True)


def test_cifar100_missing_says_what_is_expected_and_how_to_get_it(tmp_path):
    with pytest.raises(LnraError) as err:
        Cifar100Source(tmp_path / "nowhere", height=32, width=32)
    message = str(err.value)
    assert "cifar-100-python" in message and "download=true" in message and "\n" not in message


def test_samples_are_scaled_and_resized_to_the_whole_frame(tmp_path):
    images = write_cifar100(tmp_path, n=1)
    source = Cifar100Source(tmp_path, height=48, width=64)
    out = source.sample(3)
    g = torch.from_numpy(gray(images[0])).float()[None, None] / 127.5 - 1
    expected = F.interpolate(g, size=(48, 64), mode="bilinear", align_corners=True)
    assert out.shape == (3, 1, 48, 64) and out.dtype == torch.float32
    assert torch.allclose(out, expected.expand(3, 1, 48, 64), atol=1e-6)
    assert out.min() >= -1 and out.max() <= 1
    # the corners of an align_corners resize are the image's own corner pixels
    assert out[0, 0, 0, 0] == pytest.approx(float(g[0, 0, 0, 0]))


def test_pool_is_a_reproducible_subset_when_capped(tmp_path):
    write_cifar100(tmp_path, n=12)
    a = Cifar100Source(tmp_path, height=32, width=32, max_images=5, seed=3)
    b = Cifar100Source(tmp_path, height=32, width=32, max_images=5, seed=3)
    assert len(a) == 5 and torch.equal(a.pool, b.pool)
    with pytest.raises(LnraError, match="at least one image"):
        Cifar100Source(tmp_path, height=32, width=32, max_images=0)


def write_image_folder(root: Path, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    images = []
    for i, (h, w) in enumerate(sizes):
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        folder = root / f"class{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(folder / f"{i:03d}.png")
        images.append(rgb)
    return images


def test_image_folder_of_one_size_is_kept_at_its_own_size(tmp_path):
    write_image_folder(tmp_path, [(20, 24)] * 4)
    source = ImageFolderSource(tmp_path, height=32, width=32)
    assert source.pool.shape == (4, 1, 20, 24)
    assert source.sample(2).shape == (2, 1, 32, 32)


def test_image_folder_of_mixed_sizes_is_resized_to_the_frame_once(tmp_path):
    write_image_folder(tmp_path, [(20, 24), (40, 30), (17, 50)])
    source = ImageFolderSource(tmp_path, height=32, width=48)
    assert source.pool.shape == (3, 1, 32, 48)
    # class0 holds images 0 and 2, class1 image 1: ImageFolder's order is class0/000, class0/002, class1/001
    opencv_gray = cv2.imread(str(tmp_path / "class0" / "002.png"), cv2.IMREAD_GRAYSCALE)
    g = torch.from_numpy(opencv_gray).float()[None, None] / 127.5 - 1
    expected = F.interpolate(g, size=(32, 48), mode="bilinear", align_corners=True)
    assert (source.pool[1].float() / 127.5 - 1 - expected[0]).abs().max() <= 0.5 / 127.5 + 1e-6


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_image_folder_without_images_says_which_layout_is_expected(tmp_path, make):
    root = tmp_path / "intruders"
    if make == "empty":
        (root / "class0").mkdir(parents=True)
    with pytest.raises(LnraError, match=r"<class>/<image>.*ImageNet") as err:
        ImageFolderSource(root, height=32, width=32)
    assert "\n" not in str(err.value)


def test_shared_cifar10_subset_and_imagenet_sample(shared_data):
    cifar = ImageFolderSource(shared_data / "intruders" / "cifar10_subset", 64, 64, max_images=40)
    assert cifar.pool.shape == (40, 1, 32, 32)
    imagenet = ImageFolderSource(shared_data / "intruders" / "imagenet_sample", height=64, width=64,
                                 max_images=4)
    assert imagenet.pool.shape == (4, 1, 64, 64) and imagenet.pool.float().std() > 10


def test_video_clips_are_consecutive_frames_of_one_training_video(tmp_path):
    write_dataset(tmp_path / "vids", train=[20, 18], test=[16])
    source = VideoClipSource("vids", tmp_path / "vids", tmp_path / "cache", height=16, width=16, clip_len=16)
    assert source.pool.shape == (5 + 3, 16, 16, 16) and source.frames == 16
    video, position = source.pool[:, :, 0, 0], source.pool[:, :, 0, 1]
    assert (video == video[:, :1]).all()  # one video per clip
    assert (position.diff(dim=1) == 1).all()  # consecutive frames
    assert set(video[:, 0].tolist()) == {1, 2}
    out = source.sample(4)
    assert out.shape == (4, 16, 16, 16)


def test_video_source_caps_the_clips_it_keeps(tmp_path):
    write_dataset(tmp_path / "vids", train=[40], test=[16])
    source = VideoClipSource("vids", tmp_path / "vids", tmp_path / "cache", 16, 16, clip_len=16, max_clips=6)
    assert len(source) == 6 and len(set(source.pool[:, 0, 0, 1].tolist())) == 6


def test_video_source_missing_names_the_layout(tmp_path):
    with pytest.raises(LnraError, match=r"training/frames/<video>/<frame>.jpg"):
        VideoClipSource("ped2", tmp_path / "ped2", tmp_path / "cache", 16, 16)


def test_textures_are_reproducible_varied_images():
    a, b = TextureSource(32, 32, count=50, seed=4), TextureSource(32, 32, count=50, seed=4)
    assert torch.equal(a.pool, b.pool) and a.pool.shape == (50, 1, 32, 32)
    assert not torch.equal(a.pool, TextureSource(32, 32, count=50, seed=5).pool)
    per_image = a.pool.float().flatten(1).std(1)
    assert (per_image > 10).all()  # every texture has structure
    assert len({tuple(img.flatten()[:64].tolist()) for img in a.pool}) == 50  # and they differ


def test_pool_follows_the_batch_to_its_device():
    source = TextureSource(16, 16, count=3)
    out = source.sample(2, device="cpu")
    assert out.device.type == "cpu"
    if torch.cuda.is_available():
        assert source.sample(2, device="cuda").device.type == "cuda"
