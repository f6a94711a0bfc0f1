"""CIFAR-100 training images as intruders, read from torchvision's on-disk format into one pool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field
from torchvision.datasets import CIFAR100

from lnra.config.options import checked
from lnra.config.types import Count, Location, Seed
from lnra.errors import LnraError
from lnra.pseudo.sources.base import PooledSource, subset_indices


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


@checked
class Cifar100Source(PooledSource):
    """CIFAR-100 training images from ``<root>/cifar-100-python/`` (torchvision's on-disk format), made
    grayscale by PIL as torchvision's ``Grayscale`` transform does; all 50,000 unless ``max_images``
    picks a reproducible subset (``seed``)."""

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
        except Exception as err:  # noqa: BLE001 — unpickled bytes that are no CIFAR file fail in any way
            raise LnraError(f"cannot read CIFAR-100 in {root}/cifar-100-python: {err}") from None
        chosen = subset_indices(len(dataset), max_images, seed)
        images = [np.asarray(dataset[int(i)][0].convert("L")) for i in chosen]
        super().__init__(torch.from_numpy(np.stack(images))[:, None], height, width, f"CIFAR-100 in {root}")
