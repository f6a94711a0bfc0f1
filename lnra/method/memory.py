"""MemAE's memory (docs/method.md §9) and the autoencoder with it between encoder and decoder. It is
independent of the loss: the entropy term is added through :meth:`MemoryAutoencoder3D.penalties`."""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from lnra.config.options import checked
from lnra.config.types import Count
from lnra.method.model import Autoencoder3D

# Keeps the shrinkage's division and the entropy's logarithm finite where a weight is exactly λ or 0.
_TINY = 1e-12


class Memory(nn.Module):
    """``items`` learned C-vectors; every position of a feature map is replaced by a sparse, convex
    combination of them (the formulas, and why a position may read the zero vector: docs/method.md §9)."""

    def __init__(self, items: int = 2000, channels: int = 256, shrink_threshold: float = 0.0025) -> None:
        super().__init__()
        self.shrink_threshold = shrink_threshold
        self.M = nn.Parameter(torch.empty(items, channels))
        bound = 1.0 / math.sqrt(channels)
        nn.init.uniform_(self.M, -bound, bound)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ẑ in ``z``'s dtype, each position's addressing entropy (B, t, h, w) in fp32). Addressing runs in
        fp32 even under autocast: bf16 rounding would decide which weights near λ survive, and in fp16 the
        1e-12 guards round to 0 and give NaN."""
        batch, channels, *grid = z.shape
        with torch.autocast(device_type=z.device.type, enabled=False):
            flat = z.float().movedim(1, -1).reshape(-1, channels)  # one row per position
            w = torch.softmax(flat @ self.M.float().T, dim=1)
            shifted = w - self.shrink_threshold
            shrunk = F.relu(shifted) * w / (shifted.abs() + _TINY)  # hard shrinkage, then L1 renormalised
            weights = shrunk / shrunk.sum(dim=1, keepdim=True).clamp_min(_TINY)
            read = (weights @ self.M.float()).view(batch, *grid, channels).movedim(-1, 1)
            entropy = -(weights * torch.log(weights + _TINY)).sum(dim=1).view(batch, *grid)
        return read.to(z.dtype), entropy


@checked
class MemoryAutoencoder3D(Autoencoder3D):
    """MemAE: :class:`Autoencoder3D` with a :class:`Memory` between encoder and decoder. ``forward`` returns
    the reconstruction only, so every ``net(x)`` caller works unchanged; the state dict adds ``memory.M``."""

    def __init__(
        self,
        memory_items: Annotated[Count, Field(description="N: memory items (each as wide as the encoder's "
                                             "last stage)")] = 2000,
        shrink_threshold: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False, description=(
            "λ: addressing weights at or below it become 0 (hard shrinkage)"))] = 0.0025,
        entropy_weight: Annotated[float, Field(ge=0, allow_inf_nan=False, description=(
            "weight of the addressing entropy in the training loss"))] = 0.0002,
        **net: Any,
    ) -> None:
        super().__init__(**net)
        self.memory = Memory(memory_items, self.widths[-1], shrink_threshold)
        self.entropy_weight = entropy_weight
        self._entropy: torch.Tensor | None = None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The encoding read back from the memory (per position, so the decoder's crop still applies)."""
        read, entropy = self.memory(self.encoder(x))
        self._entropy = entropy.mean()
        return read

    def penalties(self) -> dict[str, torch.Tensor]:
        """``{"entropy": entropy_weight × mean entropy over the positions of the last forward}``."""
        if self._entropy is None:
            raise RuntimeError("MemoryAutoencoder3D.penalties() is read after a forward, not before")
        return {"entropy": self.entropy_weight * self._entropy}
