"""Generated textures as intruders: no file and no network needed."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field

from lnra.config.options import checked
from lnra.config.types import Count, Seed
from lnra.data.pixels import from_unit_range
from lnra.pseudo.sources.base import PooledSource


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
    return from_unit_range(image)


@checked
class TextureSource(PooledSource):
    """Procedurally generated textures: an intruder that needs no file and no network, so every patch
    technique runs offline on the synthetic dataset (``pseudo=synthetic_smoothmix``). Like CIFAR, these
    are small foreign images upsampled to the frame."""

    def __init__(self, height: int, width: int,
                 count: Annotated[Count, Field(description="textures generated")] = 1000,
                 size: Annotated[int, Field(ge=2, description="side of each texture, in pixels")] = 32,
                 seed: Annotated[Seed, Field(description="the generator's seed")] = 0) -> None:
        pool = _textures(count, size, torch.Generator().manual_seed(seed))
        super().__init__(pool[:, None], height, width, f"{count} generated {size}x{size} textures")
