"""MemAE's memory (docs/method.md §9) and the autoencoder with the memory between encoder and decoder.

The decoder of a memory autoencoder only ever sees combinations of a few learned memory items, so an
anomalous clip is reconstructed as the nearest *normal* content and its error stays high. The memory is
independent of the loss: a :class:`MemoryAutoencoder3D` trains with LNTRA's or STEAL's loss like the plain
autoencoder, and adds its entropy term through :meth:`MemoryAutoencoder3D.penalties`.
"""

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
    combination of them.

    For the C-vector ``z`` at a position: ``w = softmax(z·Mᵀ)`` over the items, hard shrinkage
    ``ŵ_i = relu(w_i − λ)·w_i / (|w_i − λ| + 1e-12)`` (weights at or below λ become 0, the others stay
    nearly unchanged but remain differentiable), L1 renormalisation, and ``ẑ = ŵ·M``. When every weight
    of a position is at or below λ (possible whenever λ ≥ 1/items, e.g. at initialisation with the
    paper's 2000 items and λ = 0.0025), the row is all zero: the renormalisation divides by at least
    1e-12 so that the position reads the zero vector instead of NaN.
    """

    def __init__(self, items: int = 2000, channels: int = 256, shrink_threshold: float = 0.0025) -> None:
        super().__init__()
        self.shrink_threshold = shrink_threshold
        self.M = nn.Parameter(torch.empty(items, channels))
        bound = 1.0 / math.sqrt(channels)
        nn.init.uniform_(self.M, -bound, bound)

    def address(self, flat: torch.Tensor) -> torch.Tensor:
        """Shrunk, L1-normalised addressing weights (P, items) for P query vectors (P, C)."""
        w = torch.softmax(flat @ self.M.float().T, dim=1)
        shifted = w - self.shrink_threshold
        shrunk = F.relu(shifted) * w / (shifted.abs() + _TINY)
        return shrunk / shrunk.sum(dim=1, keepdim=True).clamp_min(_TINY)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ẑ, entropy): ``z`` (B, C, t, h, w) read back from the memory in ``z``'s dtype, and the entropy
        ``−Σ_i ŵ_i·log(ŵ_i + 1e-12)`` of each position's weights, (B, t, h, w) in fp32.

        Addressing runs in fp32 even under autocast (and for a net cast to bf16): with 2000 items the
        weights average 1/2000 and are compared with λ = 0.0025, so with bf16's three significant digits
        rounding would decide which weights near λ survive; in fp16 the 1e-12 guards round to 0 and the
        division and the logarithm give NaN.
        """
        batch, channels, *grid = z.shape
        with torch.autocast(device_type=z.device.type, enabled=False):
            flat = z.float().movedim(1, -1).reshape(-1, channels)  # one row per position
            weights = self.address(flat)
            read = (weights @ self.M.float()).view(batch, *grid, channels).movedim(-1, 1)
            entropy = -(weights * torch.log(weights + _TINY)).sum(dim=1).view(batch, *grid)
        return read.to(z.dtype), entropy


@checked
class MemoryAutoencoder3D(Autoencoder3D):
    """MemAE: :class:`Autoencoder3D` with a :class:`Memory` of ``memory_items`` items between encoder and
    decoder (its channels: the last encoder width).

    ``forward`` returns the reconstruction only, like the plain autoencoder, so every tool that calls
    ``net(x)`` works unchanged; the weighted mean entropy of the last forward is returned by
    :meth:`penalties` for the training loss. The encoder and decoder keep their state-dict keys, the
    memory adds ``memory.M``.
    """

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
        """The encoding read back from the memory (every position on its own, so the decoder's crop still
        applies); its mean addressing entropy is kept for :meth:`penalties`."""
        read, entropy = self.memory(self.encoder(x))
        self._entropy = entropy.mean()
        return read

    def penalties(self) -> dict[str, torch.Tensor]:
        """``{"entropy": entropy_weight × mean entropy over the positions of the last forward}``."""
        if self._entropy is None:
            raise RuntimeError("MemoryAutoencoder3D.penalties() is read after a forward, not before")
        return {"entropy": self.entropy_weight * self._entropy}
