"""Intruder sources: where the content pasted as a patch pseudo anomaly comes from (docs/method.md §4).

Every source decodes a bounded pool of grayscale uint8 images or clips once, at start-up, and then
only samples from it — the training loop never touches the disk for intruders. The pool is copied to
the batch's device on first use there. ``sample`` returns intruders in [-1, 1] resized to the whole
frame (bilinear, ``align_corners=True``), as (k, 1, H, W) for images and (k, T, H, W) for clips,
whose frame t is pasted into frame t of the clip.
"""

from __future__ import annotations

import logging
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.datasets import CIFAR100, ImageFolder

from lnra.data.frames import list_videos, load_frame_store, read_frame
from lnra.errors import LnraError

log = logging.getLogger(__name__)


def resize_to_frame(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 (k, T, h, w) → float [-1, 1] (k, T, H, W): scale, then bilinear with ``align_corners=True``."""
    x = images.float().div_(127.5).sub_(1.0)
    if x.shape[-2:] == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=True)


def _subset(n: int, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` of ``n`` indices, drawn reproducibly, in increasing order."""
    if limit < 1:
        raise LnraError(f"an intruder pool must hold at least one image, got a limit of {limit}")
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def _stack_images(images: list[np.ndarray], height: int, width: int) -> torch.Tensor:
    """(k, 1, h, w) uint8. Images of one common size are kept as they are (resized exactly per batch);
    images of mixed sizes are resized to the frame now, so that they fit one tensor (rounded to uint8)."""
    if len({img.shape for img in images}) == 1:
        return torch.from_numpy(np.stack(images))[:, None]
    resized = [resize_to_frame(torch.from_numpy(img)[None, None], height, width) for img in images]
    return torch.cat(resized).add_(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


class IntruderSource:
    """A pool of intruders (N, T, h, w) uint8 (T = 1 for still images) and uniform sampling from it."""

    def __init__(self, pool: torch.Tensor, height: int, width: int, description: str) -> None:
        if pool.dim() != 4 or pool.shape[0] == 0:
            raise LnraError(f"{description}: no intruders were loaded")
        self.pool, self.height, self.width = pool, height, width
        self.description = description
        self._on_device: dict[torch.device, torch.Tensor] = {}
        log.info("intruders: %d %s from %s", len(pool), "clips" if self.frames > 1 else "images", description)

    @property
    def frames(self) -> int:
        """1 for still images, else the number of frames of each intruder clip."""
        return self.pool.shape[1]

    def __len__(self) -> int:
        return self.pool.shape[0]

    def _pool_on(self, device: torch.device) -> torch.Tensor:
        if device not in self._on_device:
            self._on_device[device] = self.pool.to(device)
        return self._on_device[device]

    def sample(self, k: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """``k`` intruders drawn uniformly with replacement: float [-1, 1], (k, T, H, W), on ``device``."""
        device = torch.device(device)
        pool = self._pool_on(device)
        index = torch.randint(0, len(self), (k,), device=device)
        return resize_to_frame(pool[index], self.height, self.width)


class _LocalCIFAR100(CIFAR100):
    """torchvision's CIFAR-100 loader with the md5 pins of the official files removed.

    torchvision refuses any ``cifar-100-python/`` whose files differ from the official ones by md5, which
    would also refuse a re-packed or a test copy. Without the pins its own check still requires every
    file to be present, and the files are read by torchvision's own code; the official archive is still
    verified by md5 when downloaded (``download=true``) or when ``verify_md5=true``.
    """

    train_list = [[name, None] for name, _ in CIFAR100.train_list]
    test_list = [[name, None] for name, _ in CIFAR100.test_list]
    meta = {**CIFAR100.meta, "md5": None}


class Cifar100Source(IntruderSource):
    """CIFAR-100 training images from ``<root>/cifar-100-python/`` (torchvision's on-disk format)."""

    def __init__(self, root: str | Path, height: int, width: int, download: bool = False,
                 verify_md5: bool = False, max_images: int = 50000, seed: int = 0) -> None:
        root = Path(root)
        try:
            if download or verify_md5:
                dataset: CIFAR100 = CIFAR100(str(root), train=True, download=download)
            else:
                dataset = _LocalCIFAR100(str(root), train=True)
        except RuntimeError:
            official = " or not the official files (verify_md5=true)" if verify_md5 else ""
            raise LnraError(
                f"CIFAR-100 not found in {root}{official}: expected torchvision's format "
                f"{root}/cifar-100-python/{{train,test,meta}}; get it with pseudo.source.download=true "
                "(needs a network) or unpack cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html"
            ) from None
        except (OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as err:
            raise LnraError(f"cannot read CIFAR-100 in {root}/cifar-100-python: {err}") from None
        chosen = _subset(len(dataset), max_images, seed)
        images = [np.asarray(dataset[int(i)][0].convert("L")) for i in chosen]
        super().__init__(torch.from_numpy(np.stack(images))[:, None], height, width, f"CIFAR-100 in {root}")


def _read_gray(path: str) -> np.ndarray:
    return read_frame(Path(path), "intruder image")


class ImageFolderSource(IntruderSource):
    """Images of a torchvision ``ImageFolder`` (``<root>/<class>/<image>``, the ImageNet training layout)."""

    def __init__(self, root: str | Path, height: int, width: int, max_images: int = 10000,
                 seed: int = 0) -> None:
        root = Path(root)
        expected = (f"expected an image folder {root}/<class>/<image>.JPEG (the ImageNet training layout, "
                    "or any folder of images sorted into class folders); set pseudo.source.root=FOLDER")
        if not root.is_dir():
            raise LnraError(f"intruder folder not found: {root}; {expected}")
        try:
            files = [path for path, _ in ImageFolder(str(root)).samples]
        except (FileNotFoundError, RuntimeError) as err:
            raise LnraError(f"no intruder images in {root} ({err}); {expected}") from None
        chosen = [files[i] for i in _subset(len(files), max_images, seed)]
        with ThreadPoolExecutor(4) as pool:
            images = list(pool.map(_read_gray, chosen))
        super().__init__(_stack_images(images, height, width), height, width, f"image folder {root}")


class VideoClipSource(IntruderSource):
    """Training clips of a video dataset (Ped2, ShanghaiTech, …) in the layout of docs/method.md §1, read
    through the dataset's frame cache at the frame size; every clip is ``clip_len`` consecutive frames of one
    video. At most ``max_clips`` clips (drawn at random starts) are kept in memory."""

    def __init__(self, name: str, root: str | Path, cache_dir: str | Path, height: int, width: int,
                 clip_len: int = 16, max_clips: int = 256, seed: int = 0) -> None:
        root = Path(root)
        split = root / "training" / "frames"
        if not split.is_dir():
            raise LnraError(
                f"intruder videos not found: {split}; expected the {name} training frames in the layout "
                f"{root}/training/frames/<video>/<frame>.jpg (set pseudo.source.root=DATASET_FOLDER)"
            )
        store = load_frame_store(list_videos(split), Path(cache_dir), name, "training", height, width)
        per_video = np.maximum(store.lengths - clip_len + 1, 0)
        starts = np.concatenate([store.offsets[v] + np.arange(n) for v, n in enumerate(per_video)])
        if len(starts) == 0:
            raise LnraError(f"no training video in {split} has {clip_len} frames to give an intruder clip")
        chosen = starts[_subset(len(starts), max_clips, seed)]
        pool = np.stack([store.frames[s : s + clip_len] for s in chosen])
        super().__init__(torch.from_numpy(pool), height, width, f"{name} training clips in {root}")


def _textures(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(count, size, size) uint8: a grating of random frequency, angle and phase over a smooth random
    field, with a bright or dark disc — structured content foreign to any frame of the datasets."""

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator)

    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    one = (count, 1, 1)
    angle, freq, phase = uniform(0, torch.pi, *one), uniform(2, 12, *one), uniform(0, 7, *one)
    grating = torch.sin(torch.pi * freq * (xx * torch.cos(angle) + yy * torch.sin(angle)) + phase)
    coarse = uniform(-1, 1, count, 1, 4, 4)
    field = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)
    cx, cy, radius = uniform(-1, 1, *one), uniform(-1, 1, *one), uniform(0.15, 0.5, *one)
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 < radius**2
    tone = torch.where(uniform(0, 1, *one) < 0.5, -1.0, 1.0)
    image = torch.where(disc, tone, 0.6 * grating + 0.4 * field[:, 0])
    return ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class TextureSource(IntruderSource):
    """Procedurally generated textures: an intruder that needs no file and no network, so every patch
    technique runs offline on the synthetic dataset (``pseudo=synthetic_smoothmix``). Like CIFAR, these
    are small foreign images upsampled to the frame."""

    def __init__(self, height: int, width: int, count: int = 1000, size: int = 32, seed: int = 0) -> None:
        if count < 1 or size < 2:
            raise LnraError(f"pseudo.source needs count >= 1 and size >= 2, got count={count}, size={size}")
        pool = _textures(count, size, torch.Generator().manual_seed(seed))
        super().__init__(pool[:, None], height, width, f"{count} generated {size}x{size} textures")
