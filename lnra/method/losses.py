"""The training losses of the family (docs/method.md §3 and §9), as objects a config picks by ``_target_``.

Every loss is called the same way, ``loss(recon, batch)``, and returns one value per sample, shape (B,),
in fp32; the batch loss is their mean. Returning per-sample values lets the LightningModule log the
normal and pseudo-anomalous samples apart whatever the loss, and the kinds in :class:`TrainBatch` are all
a loss needs to know about pseudo anomalies.
"""

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
    """Learning not to reconstruct (docs/method.md §3): every sample's reconstruction is compared with its
    own target — the input for a normal sample, the clean clip behind a patch, the consecutive clip behind
    skipped frames. Without pseudo anomalies every target is the input, which is the plain autoencoder's
    (and MemAE's) reconstruction loss."""

    def __call__(self, recon: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        return per_sample_mse(recon, batch.target)


class StealLoss(TrainingLoss):
    """STEAL Net (docs/method.md §9): reconstruct normal clips, and *fail* to reconstruct pseudo anomalies.

    A normal sample's value is its reconstruction error against its input; a pseudo-anomalous sample's
    (skip frame or patch alike) is **minus** its reconstruction error against its own pseudo-anomalous
    input — the target is never read. So under this loss ``train/loss_pseudo`` is negative and falls as
    training succeeds. Inputs and Tanh outputs both lie in [-1, 1], so a squared difference is at most 4
    and a pseudo sample's value at least −4: the push away cannot diverge.
    """

    needs_pseudo_anomalies: ClassVar[bool] = True

    def __call__(self, recon: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        error = per_sample_mse(recon, batch.input)
        return torch.where(batch.kind == KIND_NORMAL, error, -error)
