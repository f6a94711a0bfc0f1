"""What every intruder source shares: the :class:`IntruderSource` interface, shuffled passes over the whole
source, an in-memory uint8 pool, and the resize of an intruder to the whole frame (docs/method.md §4)."""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from lnra.data.pixels import from_unit_range, to_unit_range
from lnra.errors import LnraError

log = logging.getLogger(__name__)


def resize_to_frame(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 (k, T, h, w) → float [-1, 1] (k, T, H, W): scale, then bilinear with ``align_corners=True``."""
    x = to_unit_range(images)
    if x.shape[-2:] == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=True)


class ShuffledPasses:
    """Indices into ``n`` items in shuffled passes: every item once per pass, in a new random order
    each pass (torch's global generator, so a seeded run repeats)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._order = torch.empty(0, dtype=torch.long)

    def take(self, k: int) -> torch.Tensor:
        """The next ``k`` indices; a pass that runs out continues into the next one."""
        while len(self._order) < k:
            self._order = torch.cat([self._order, torch.randperm(self.n)])
        taken, self._order = self._order[:k], self._order[k:]
        return taken


class IntruderSource:
    """What a patch mixer draws from: ``count`` intruders of ``frames`` frames (1 for still images).
    Subclasses supply :meth:`_draw`; :meth:`sample` scales and resizes to the frame."""

    def __init__(self, count: int, frames: int, height: int, width: int, description: str) -> None:
        if count == 0:
            raise LnraError(f"{description}: no intruders were loaded")
        self.count, self.frames, self.height, self.width = count, frames, height, width
        self.description = description
        log.info("intruders: %d %s from %s", count, "clips" if frames > 1 else "images", description)

    def __len__(self) -> int:
        return self.count

    def _draw(self, k: int, device: torch.device) -> torch.Tensor:
        """``k`` intruders, uint8 (k, frames, h, w), on ``device``."""
        raise NotImplementedError

    def sample(self, k: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The next ``k`` intruders of the shuffled passes: float [-1, 1], (k, T, H, W), on ``device``."""
        return resize_to_frame(self._draw(k, torch.device(device)), self.height, self.width)


class Pool:
    """A uint8 pool (N, T, h, w) drawn in shuffled passes, copied to a device on first use there."""

    def __init__(self, pool: torch.Tensor) -> None:
        self.pool = pool
        self._passes = ShuffledPasses(len(pool))
        self._on_device: dict[torch.device, torch.Tensor] = {}

    def draw(self, k: int, device: torch.device) -> torch.Tensor:
        if device not in self._on_device:
            self._on_device[device] = self.pool.to(device)
        return self._on_device[device][self._passes.take(k).to(device)]


class PooledSource(IntruderSource):
    """Intruders held in memory as one uint8 pool (N, T, h, w)."""

    def __init__(self, pool: torch.Tensor, height: int, width: int, description: str) -> None:
        if pool.dim() != 4:
            raise LnraError(f"{description}: expected a (N, T, h, w) pool, got shape {tuple(pool.shape)}")
        super().__init__(pool.shape[0], pool.shape[1], height, width, description)
        self._pool = Pool(pool)

    @property
    def pool(self) -> torch.Tensor:
        return self._pool.pool

    def _draw(self, k: int, device: torch.device) -> torch.Tensor:
        return self._pool.draw(k, device)


def subset_indices(n: int, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` of ``n`` indices, drawn reproducibly, in increasing order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def stack_images(images: list[np.ndarray], height: int, width: int) -> torch.Tensor:
    """(k, 1, h, w) uint8. Images of one common size are kept as they are (resized exactly per batch);
    images of mixed sizes are resized to the frame now, so that they fit one tensor (rounded to uint8)."""
    if len({img.shape for img in images}) == 1:
        return torch.from_numpy(np.stack(images))[:, None]
    resized = [resize_to_frame(torch.from_numpy(img)[None, None], height, width) for img in images]
    return from_unit_range(torch.cat(resized))
