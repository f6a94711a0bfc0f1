"""Intruder sources: real torchvision loaders on small data written here, plus the shared real data."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.data import write_dataset
from PIL import Image
from torchvision import transforms

from lnra.errors import LnraError
from lnra.pseudo.sources import (
    Cifar100Source,
    ImageFolderSource,
    IntruderSource,
    TextureSource,
    VideoClipSource,
)


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
    assert a.count == 5 and torch.equal(a.pool, b.pool)
    drawn = ((a.sample(5) + 1) * 127.5).round().to(torch.uint8)  # one pass: each pooled image once
    assert sorted(img.flatten().tolist() for img in drawn[:, 0]) == sorted(
        img.flatten().tolist() for img in a.pool[:, 0])
    with pytest.raises(LnraError, match="^max_images=0: must be an integer >= 1$"):
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


def test_image_folder_without_crop_is_pooled_whole_at_its_own_size(tmp_path):
    write_image_folder(tmp_path, [(20, 24)] * 4)
    source = ImageFolderSource(tmp_path, height=32, width=32, crop=False)
    assert source.pool.shape == (4, 1, 20, 24)
    assert source.sample(2).shape == (2, 1, 32, 32)


def test_image_folder_of_mixed_sizes_is_resized_to_the_frame_once(tmp_path):
    write_image_folder(tmp_path, [(20, 24), (40, 30), (17, 50)])
    source = ImageFolderSource(tmp_path, height=32, width=48, crop=False)
    pool = source.pool
    assert pool.shape == (3, 1, 32, 48)
    # class0 holds images 0 and 2, class1 image 1: ImageFolder's order is class0/000, class0/002, class1/001
    opencv_gray = cv2.imread(str(tmp_path / "class0" / "002.png"), cv2.IMREAD_GRAYSCALE)
    g = torch.from_numpy(opencv_gray).float()[None, None] / 127.5 - 1
    expected = F.interpolate(g, size=(32, 48), mode="bilinear", align_corners=True)
    assert (pool[1].float() / 127.5 - 1 - expected[0]).abs().max() <= 0.5 / 127.5 + 1e-6


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_image_folder_without_images_says_which_layout_is_expected(tmp_path, make):
    root = tmp_path / "intruders"
    if make == "empty":
        (root / "class0").mkdir(parents=True)
    with pytest.raises(LnraError, match=r"<class>/<image>.*ImageNet") as err:
        ImageFolderSource(root, height=32, width=32)
    assert "\n" not in str(err.value)


def test_shuffled_passes_take_every_index_once_per_pass():
    passes = IntruderSource(5, 1, 2, 2, "five blank images", torch.zeros((5, 1, 2, 2), dtype=torch.uint8))
    torch.manual_seed(0)
    drawn = [passes.take(k).tolist() for k in (2, 2, 2, 4)]  # 10 = two passes, the third draw spans both
    flat = sum(drawn, [])
    assert sorted(flat[:5]) == sorted(flat[5:]) == list(range(5))
    assert flat[:5] != flat[5:]  # a new order each pass



def test_a_source_without_intruders_is_refused_not_drawn_from_for_ever():
    """Any source, a user's own subclass too: drawing from none would never end."""
    with pytest.raises(LnraError, match=r"^my frames: no intruders were loaded$"):
        IntruderSource(0, 1, 2, 2, "my frames", torch.zeros((0, 1, 2, 2), dtype=torch.uint8))

def test_every_image_of_the_folder_is_drawn_once_per_pass(tmp_path):
    # 7 flat grey images: crop and flips leave each one its grey level, which names it
    for i in range(7):
        folder = tmp_path / f"class{i % 3}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(np.full((30 + i, 40, 3), 20 * i + 10, np.uint8)).save(folder / f"{i}.png")
    torch.manual_seed(0)
    source = ImageFolderSource(tmp_path, height=16, width=16, workers=1)  # streamed by one worker
    assert source.count == 7
    for _ in range(2):
        draws = source.sample(7)
        assert draws.shape == (7, 1, 16, 16)
        levels = ((draws + 1) * 127.5).round().flatten(1)
        assert (levels == levels[:, :1]).all()
        assert sorted(levels[:, 0].tolist()) == [20 * i + 10 for i in range(7)]


def test_imagenet_draws_are_random_resized_crops_flipped_both_ways(tmp_path):
    # one image, darker on the left and at the top: a crop keeps that order, only flips reverse it
    yy, xx = np.mgrid[:96, :128]
    image = (60 + 100 * (xx >= 64) + 60 * (yy >= 48)).astype(np.uint8)
    (tmp_path / "only").mkdir()
    Image.fromarray(np.repeat(image[..., None], 3, axis=2)).save(tmp_path / "only" / "a.png")
    torch.manual_seed(0)
    source = ImageFolderSource(tmp_path, height=24, width=24, workers=0)
    draws = source.sample(40)[:, 0]
    assert draws.shape == (40, 24, 24)
    assert len({tuple(d.flatten().tolist()) for d in draws}) > 20  # different draws of one image differ
    left, right = draws[:, :, :12].mean((1, 2)), draws[:, :, 12:].mean((1, 2))
    top, bottom = draws[:, :12].mean((1, 2)), draws[:, 12:].mean((1, 2))
    assert (left < right - 0.1).any() and (left > right + 0.1).any()  # horizontal flips
    assert (top < bottom - 0.1).any() and (top > bottom + 0.1).any()  # vertical flips
    crop = source.dataset.transform.transforms[0]
    assert isinstance(crop, transforms.RandomResizedCrop) and crop.size == (24, 24)
    assert crop.scale == (0.08, 1.0) and crop.ratio == pytest.approx((3 / 4, 4 / 3))  # torchvision's defaults


def test_shared_imagenet_sample_is_streamed_whole(shared_data):
    imagenet = ImageFolderSource(shared_data / "intruders" / "imagenet_sample", 64, 64, workers=0)
    assert imagenet.count == 1000
    draws = imagenet.sample(4)
    assert draws.shape == (4, 1, 64, 64) and draws.std() > 0.05


def test_video_clips_are_consecutive_frames_of_one_training_video(tmp_path):
    write_dataset(tmp_path / "vids", train=[20, 18], test=[16])
    source = VideoClipSource("vids", tmp_path / "vids", tmp_path / "cache", height=16, width=16, clip_len=16)
    assert source.count == 5 + 3 and source.frames == 16
    torch.manual_seed(0)
    clips = ((source.sample(8) + 1) * 127.5).round()  # one whole pass: every clip once
    video, position = clips[:, :, 0, 0], clips[:, :, 0, 1]
    assert (video == video[:, :1]).all()  # one video per clip
    assert (position.diff(dim=1) == 1).all()  # consecutive frames
    starts = sorted(zip(video[:, 0].tolist(), position[:, 0].tolist(), strict=True))
    assert starts == [(1.0, float(i)) for i in range(5)] + [(2.0, float(i)) for i in range(3)]


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
