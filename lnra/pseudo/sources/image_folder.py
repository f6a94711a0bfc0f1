"""Images of an ImageFolder (the ImageNet training layout) as intruders: streamed with random crops and
flips by DataLoader workers, or, for a folder of small images, read once into a pool."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import torch
from pydantic import Field
from torch.utils.data import DataLoader, RandomSampler
from torchvision import transforms
from torchvision.datasets import ImageFolder

from lnra.config.options import checked
from lnra.config.types import Location, NonNegative
from lnra.data.frames import read_frame
from lnra.errors import LnraError
from lnra.pseudo.sources.base import IntruderSource, Pool, stack_images


class _ImageStream:
    """An endless stream of transformed images of an ImageFolder, decoded ahead by DataLoader workers.

    Each pass is one shuffled pass over every image (a ``RandomSampler`` without replacement); when
    it ends the next begins. The loader starts on first use and is not pickled (a copy starts its own).
    """

    CHUNK = 16  # images per worker batch: small, so the first draw comes quickly

    def __init__(self, dataset: ImageFolder, workers: int) -> None:
        self.dataset, self.workers = dataset, workers
        self._batches: Iterator[Any] | None = None
        self._ready = torch.empty(0, dtype=torch.uint8)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_batches": None, "_ready": torch.empty(0, dtype=torch.uint8)}

    def _passes(self) -> Iterator[Any]:
        loader = DataLoader(self.dataset, batch_size=self.CHUNK, sampler=RandomSampler(self.dataset),
                            num_workers=self.workers, persistent_workers=self.workers > 0,
                            prefetch_factor=4 if self.workers else None)
        while True:
            yield from loader

    def take(self, k: int) -> torch.Tensor:
        """The next ``k`` images, uint8 (k, 1, H, W)."""
        if self._batches is None:
            self._batches = self._passes()
        while len(self._ready) < k:
            images, _ = next(self._batches)
            self._ready = torch.cat([self._ready, images])
        taken, self._ready = self._ready[:k], self._ready[k:]
        return taken


def _gray_uint8(image: Any) -> torch.Tensor:
    """A PIL image → (1, h, w) uint8 after torchvision's ``Grayscale`` (ITU-R 601-2 luma)."""
    return transforms.functional.pil_to_tensor(transforms.functional.to_grayscale(image))


@checked
class ImageFolderSource(IntruderSource):
    """Images of a torchvision ``ImageFolder`` (``<root>/<class>/<image>``, the ImageNet training layout),
    every image of the folder, drawn in shuffled passes.

    ``crop=true`` (ImageNet, as the reference draws it): each draw is torchvision's
    ``RandomResizedCrop((H, W))`` (default scale and ratio), a random horizontal and a random vertical
    flip, in colour, then ``Grayscale`` — torchvision's PIL pipeline, as the reference's — streamed by
    ``workers`` DataLoader processes. ``crop=false`` (a folder of small images standing in for CIFAR):
    every image is read once as the frames are (OpenCV's grayscale decode) into a pool and pasted whole,
    upsampled like CIFAR.
    """

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
        augment = transforms.Compose([
            transforms.RandomResizedCrop((height, width)),
            transforms.RandomHorizontalFlip(),
            transforms.RandomVerticalFlip(),
            _gray_uint8,
        ])
        try:
            dataset = ImageFolder(str(root), transform=augment)
        except (FileNotFoundError, RuntimeError) as err:
            raise LnraError(f"no intruder images in {root} ({err}); {expected}") from None
        files = [path for path, _ in dataset.samples]
        self._stream: _ImageStream | None = None
        self._pool: Pool | None = None
        if crop:
            self._stream = _ImageStream(dataset, workers)
        else:
            with ThreadPoolExecutor(4) as pool:
                images = list(pool.map(lambda f: read_frame(Path(f), "intruder image"), files))
            self._pool = Pool(stack_images(images, height, width))
        how = "random crops and flips of" if crop else "whole"
        super().__init__(len(files), 1, height, width, f"{how} images of the image folder {root}")

    def _draw(self, k: int, device: torch.device) -> torch.Tensor:
        if self._pool is not None:
            return self._pool.draw(k, device)
        return self._stream.take(k).to(device, non_blocking=True)
