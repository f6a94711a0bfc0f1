"""Intruder sources for patch pseudo anomalies, drawn as docs/method.md §4 says. Small sources are a uint8
pool that follows the batch to its device; image folders are decoded ahead, so a training step never waits."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch.utils.data import DataLoader, RandomSampler
from torchvision import transforms
from torchvision.datasets import CIFAR100, ImageFolder

from lnra.config.options import checked
from lnra.config.types import Count, FolderName, Location, NonNegative, Seed
from lnra.data.frames import list_videos, load_frame_store, read_frame
from lnra.data.pixels import from_unit_range, to_unit_range, window_count
from lnra.errors import LnraError

log = logging.getLogger(__name__)


def resize_to_frame(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 (k, T, h, w) → float [-1, 1] (k, T, H, W): scale, then bilinear with ``align_corners=True``."""
    x = to_unit_range(images)
    if x.shape[-2:] == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=True)


class IntruderSource:
    """``count`` intruders of ``frames`` frames (1 for images), drawn from a uint8 ``pool`` (count, frames, h,
    w) copied to each device once, unless a subclass overrides :meth:`_draw`."""

    def __init__(self, count: int, frames: int, height: int, width: int, description: str,
                 pool: torch.Tensor | None = None) -> None:
        if count == 0:  # every source, a user's own too: drawing from none would loop for ever
            raise LnraError(f"{description}: no intruders were loaded")
        self.count, self.frames, self.height, self.width = count, frames, height, width
        self.pool, self._order = pool, torch.empty(0, dtype=torch.long)
        self._on_device: dict[torch.device, torch.Tensor] = {}
        log.info("intruders: %d %s from %s", count, "clips" if frames > 1 else "images", description)

    def take(self, k: int) -> torch.Tensor:
        """The next ``k`` indices: each intruder once per pass, in torch's (seeded) random order."""
        while len(self._order) < k:
            self._order = torch.cat([self._order, torch.randperm(self.count)])
        taken, self._order = self._order[:k], self._order[k:]
        return taken

    def _draw(self, k: int, device: torch.device) -> torch.Tensor:
        if device not in self._on_device:
            self._on_device[device] = self.pool.to(device)
        return self._on_device[device][self.take(k).to(device)]

    def sample(self, k: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The next ``k`` intruders of the shuffled passes: float [-1, 1], (k, T, H, W), on ``device``."""
        return resize_to_frame(self._draw(k, torch.device(device)), self.height, self.width)


@checked
class TextureSource(IntruderSource):
    """Generated textures (a grating over a smooth field, with a disc), so every technique runs offline."""

    def __init__(self, height: int, width: int,
                 count: Annotated[Count, Field(description="textures generated")] = 1000,
                 size: Annotated[int, Field(ge=2, description="side of each texture, in pixels")] = 32,
                 seed: Annotated[Seed, Field(description="the generator's seed")] = 0) -> None:
        generator = torch.Generator().manual_seed(seed)

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
        pool = from_unit_range(torch.where(disc, tone, 0.6 * grating + 0.4 * field[:, 0]))[:, None]
        super().__init__(*pool.shape[:2], height, width, f"{count} generated {size}x{size} textures", pool)


class _LocalCIFAR100(CIFAR100):
    """torchvision's CIFAR-100 loader without the md5 pins, which would refuse a re-packed or a test copy."""

    train_list = [[name, None] for name, _ in CIFAR100.train_list]
    test_list = [[name, None] for name, _ in CIFAR100.test_list]
    meta = {**CIFAR100.meta, "md5": None}


@checked
class Cifar100Source(IntruderSource):
    """CIFAR-100 training images (torchvision's format), made grayscale by PIL as torchvision's does."""

    def __init__(
        self,
        root: Annotated[Location, Field(description="holds cifar-100-python/")],
        height: int,
        width: int,
        download: Annotated[bool, Field(description="let torchvision download the archive (needs a network)")]
        = False,
        verify_md5: Annotated[bool, Field(description="check the files against the official md5 sums")] \
        = False,
        max_images: Annotated[Count, Field(description="images decoded at start-up (all 50,000: ~50 MB)")]
        = 50000,
        seed: Annotated[Seed, Field(description="which images, when max_images is below the set's size")] = 0,
    ) -> None:
        root = Path(root)
        try:
            loader = CIFAR100 if download or verify_md5 else _LocalCIFAR100  # (download is then False)
            dataset = loader(str(root), train=True, download=download)
        except RuntimeError:
            official = " or not the official files (verify_md5=true)" if verify_md5 else ""
            raise LnraError(
                f"CIFAR-100 not found in {root}{official}: expected torchvision's format "
                f"{root}/cifar-100-python/{{train,test,meta}}; get it with pseudo.source.download=true "
                "(needs a network) or unpack cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html"
            ) from None
        except Exception as err:  # noqa: BLE001 — unpickled bytes that are no CIFAR file fail in any way
            raise LnraError(f"cannot read CIFAR-100 in {root}/cifar-100-python: {err}") from None
        n = len(dataset)  # a capped subset is drawn reproducibly and kept in increasing order
        chosen = np.arange(n) if n <= max_images else np.sort(
            np.random.default_rng(seed).choice(n, max_images, replace=False))
        images = [np.asarray(dataset[int(i)][0].convert("L")) for i in chosen]
        pool = torch.from_numpy(np.stack(images))[:, None]
        super().__init__(*pool.shape[:2], height, width, f"CIFAR-100 in {root}", pool)


@checked
class ImageFolderSource(IntruderSource):
    """Every image of a torchvision ``ImageFolder``: ``crop=true`` draws through torchvision's PIL pipeline,
    as the reference; ``crop=false`` pools them read as frames are (docs/guide.md, Pseudo anomalies)."""

    def __init__(
        self,
        root: Annotated[Location, Field(description="an ImageFolder: <root>/<class>/<image>")],
        height: int,
        width: int,
        crop: Annotated[bool, Field(description="random resized crop + flips, streamed (ImageNet); false: "
                                    "whole images in memory, like CIFAR")] = True,
        workers: Annotated[NonNegative, Field(description="processes decoding ahead when crop=true (0: in "
                                              "this process)")] = 2,
    ) -> None:
        root = Path(root)
        expected = (f"expected an image folder {root}/<class>/<image>.JPEG (the ImageNet training layout, "
                    "or any folder of images sorted into class folders); set pseudo.source.root=FOLDER")
        if not root.is_dir():
            raise LnraError(f"intruder folder not found: {root}; {expected}")
        augment = transforms.Compose([transforms.RandomResizedCrop((height, width)),
                                      transforms.RandomHorizontalFlip(), transforms.RandomVerticalFlip(),
                                      transforms.Grayscale(), transforms.PILToTensor()])
        try:
            self.dataset = ImageFolder(str(root), transform=augment)
        except (FileNotFoundError, RuntimeError) as err:
            raise LnraError(f"no intruder images in {root} ({err}); {expected}") from None
        self.workers, pool = workers, None
        self._stream: Iterator[torch.Tensor] | None = None  # the images decoded ahead, from the first draw on
        if not crop:
            with ThreadPoolExecutor(4) as threads:
                images = list(threads.map(lambda sample: read_frame(Path(sample[0]), "intruder image"),
                                          self.dataset.samples))
            if len({image.shape for image in images}) == 1:  # one size: resized exactly per batch
                pool = torch.from_numpy(np.stack(images))[:, None]
            else:  # mixed sizes are resized to the frame now, to fit one tensor (rounded to uint8)
                pool = from_unit_range(torch.cat([resize_to_frame(torch.from_numpy(image)[None, None], height,
                                                                  width) for image in images]))
        what = f"{'random crops and flips of' if crop else 'whole'} images of the image folder {root}"
        super().__init__(len(self.dataset), 1, height, width, what, pool)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_stream": None}  # a copy starts its own loader

    def _draw(self, k: int, device: torch.device) -> torch.Tensor:
        if self.pool is not None:
            return super()._draw(k, device)
        if self._stream is None:  # on first use: shuffled passes (a sampler without replacement) end to end
            loader = DataLoader(self.dataset, batch_size=16, sampler=RandomSampler(self.dataset),
                                num_workers=self.workers, persistent_workers=self.workers > 0,
                                prefetch_factor=4 if self.workers else None)  # small batches: a quick start
            self._stream = (image for _ in itertools.count() for images, _ in loader for image in images)
        return torch.stack([next(self._stream) for _ in range(k)]).to(device, non_blocking=True)


@checked
class VideoClipSource(IntruderSource):
    """Every training clip of a video dataset, sliced from that dataset's frame cache at the frame size."""

    def __init__(
        self,
        name: Annotated[FolderName, Field(description="the video dataset whose training clips are pasted")],
        root: Annotated[Location, Field(description="that dataset's folder")],
        cache_dir: Annotated[Location, Field(description="its frame cache")],
        height: int,
        width: int,
        clip_len: Annotated[Count, Field(description="frames per intruder clip (a run uses the data's)")] \
        = 16,
    ) -> None:
        root = Path(root)
        split = root / "training" / "frames"
        if not split.is_dir():
            raise LnraError(f"intruder videos not found: {split}; expected the {name} training frames in the "
                            f"layout {root}/training/frames/<video>/<frame>.jpg (set pseudo.source.root="
                            "DATASET_FOLDER)")
        self.store = load_frame_store(list_videos(split), Path(cache_dir), name, "training", height, width)
        per_video = window_count(self.store.lengths, clip_len)
        self.starts = np.concatenate([self.store.offsets[v] + np.arange(n) for v, n in enumerate(per_video)])
        if len(self.starts) == 0:
            raise LnraError(f"no training video in {split} has {clip_len} frames to give an intruder clip")
        super().__init__(len(self.starts), clip_len, height, width, f"{name} training clips in {root}")

    def _draw(self, k: int, device: torch.device) -> torch.Tensor:
        first = self.starts[self.take(k).numpy()]
        return torch.from_numpy(self.store.frames[first[:, None] + np.arange(self.frames)]).to(device)
