"""The training losses of the family (docs/method.md §3 and §9). Each returns one fp32 value per sample, so
the module can log normal and pseudo-anomalous samples apart whatever the loss."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from lnra.loading.batches import TrainBatch
from lnra.pseudo.kinds import KIND_NORMAL


def per_sample_mse(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE, shape (B,), in fp32 so that bf16's three significant digits do not reach the loss."""
    return (recon.float() - target.float()).pow(2).flatten(1).mean(1)


class TrainingLoss(ABC):
    """A per-sample loss; ``needs_pseudo_anomalies`` lets a config that could never train it be refused
    before any data is read."""

    needs_pseudo_anomalies: ClassVar[bool] = False

    @abstractmethod
    def __call__(self, recon: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        """Per-sample loss, shape (B,), for reconstructions ``recon`` of ``batch.input``."""


class LntraLoss(TrainingLoss):
    """Learning not to reconstruct (docs/method.md §3): MSE to the target (a pseudo anomaly's clean clip)."""

    def __call__(self, recon: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        return per_sample_mse(recon, batch.target)


class StealLoss(TrainingLoss):
    """STEAL Net (docs/method.md §9): a pseudo sample's value is minus its error against its own input, at
    least −4 for values in [-1, 1], so the push away cannot diverge."""

    needs_pseudo_anomalies: ClassVar[bool] = True

    def __call__(self, recon: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        error = per_sample_mse(recon, batch.input)
        return torch.where(batch.kind == KIND_NORMAL, error, -error)
