"""The training losses of the family (docs/method.md §3 and §9). Each returns one fp32 value per sample, so
the module can log normal and pseudo-anomalous samples apart whatever the loss."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from lnra.loading.batches import TrainBatch
from lnra.pseudo.kinds import KIND_NORMAL


def per_sample_mse(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each sample over all its values, shape (B,). Computed in fp32 so that a bf16
    reconstruction's small errors, averaged over about a million values per clip, do not carry bf16's
    three significant digits into the loss."""
    return (recon.float() - target.float()).pow(2).flatten(1).mean(1)


class TrainingLoss(ABC):
    """What the LightningModule needs of a loss: a per-sample value and whether it is meaningful without
    pseudo anomalies (``needs_pseudo_anomalies``), so that a config that could never train it is refused
    before any data is read."""

    needs_pseudo_anomalies: ClassVar[bool] = False

    @abstractmethod
    def __call__(self, recon: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        """Per-sample loss, shape (B,), for reconstructions ``recon`` of ``batch.input``."""


class LntraLoss(TrainingLoss):
    """Learning not to reconstruct (docs/method.md §3): each reconstruction against its own target (the
    input for a normal sample, the clean clip behind a pseudo anomaly): the plain reconstruction loss
    when there are no pseudo anomalies."""

    def __call__(self, recon: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        return per_sample_mse(recon, batch.target)


class StealLoss(TrainingLoss):
    """STEAL Net (docs/method.md §9): reconstruct normal clips, and *fail* to reconstruct pseudo anomalies:
    a pseudo sample's value is minus its error against its own input (so ``train/loss_pseudo`` is negative).
    Inputs and Tanh outputs lie in [-1, 1], so that value is at least −4: the push away cannot diverge."""

    needs_pseudo_anomalies: ClassVar[bool] = True

    def __call__(self, recon: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        error = per_sample_mse(recon, batch.input)
        return torch.where(batch.kind == KIND_NORMAL, error, -error)
