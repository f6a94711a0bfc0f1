"""Pixel-level localisation metrics (pixel AUROC, the UCSD criterion's AUC and EER) from reconstruction-error
maps, streamed over a test set into fixed-size histograms on one threshold grid, so memory does not grow
with the test set and every rank's counts simply add up. Definitions: docs/guide.md, Localisation."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import Metric

from lnra.errors import LnraError

DEFAULT_BINS = 1000
MIN_ERROR = 1e-6  # below 1/60 of one grey level squared: indistinguishable from 0
MAX_ERROR = 4.0  # (1 − (−1))²
UCSD_MIN_FRACTION = 0.4


def threshold_grid(bins: int = DEFAULT_BINS) -> torch.Tensor:
    """The ``bins`` thresholds, ascending: 0, then ``bins − 1`` values geometric from 1e-6 to 4."""
    if bins < 2:
        raise LnraError(f"localisation.bins must be at least 2, got {bins}")
    return torch.cat([torch.zeros(1), torch.from_numpy(np.geomspace(MIN_ERROR, MAX_ERROR, bins - 1))]).float()


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of (B, 1, H, W) maps, kernel radius ⌈3σ⌉, borders replicated."""
    radius = max(1, int(np.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=maps.dtype, device=maps.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    maps = F.pad(maps, (radius, radius, radius, radius), mode="replicate")
    maps = F.conv2d(maps, kernel.view(1, 1, 1, -1))
    return F.conv2d(maps, kernel.view(1, 1, -1, 1))


def upsample_errors(err: torch.Tensor, size: tuple[int, int], sigma: float = 0.0) -> torch.Tensor:
    """(B, 1, h, w) squared errors → (B, H, W) at ``size``: bilinear (half-pixel centres), then smoothed."""
    err = err.float()
    if tuple(err.shape[-2:]) != tuple(size):
        err = F.interpolate(err, size=tuple(size), mode="bilinear", align_corners=False)
    if sigma > 0:
        err = gaussian_blur(err, sigma)
    return err[:, 0]


def error_maps(recon: torch.Tensor, frame: torch.Tensor, size: tuple[int, int], sigma: float = 0.0
               ) -> torch.Tensor:
    """(B, H, W) squared-error maps at the mask size ``(H, W)`` from (B, 1, h, w) frames in [-1, 1]."""
    return upsample_errors((recon.float() - frame.float()).pow(2), size, sigma)


def roc_auc(fpr: torch.Tensor, tpr: torch.Tensor) -> float:
    """Trapezoidal area under a ROC given as points with ascending FPR."""
    return float(torch.trapezoid(tpr.double(), fpr.double()))


def equal_error_rate(fpr: torch.Tensor, tpr: torch.Tensor) -> float:
    """The FPR where FPR = 1 − TPR (= the miss rate), interpolated on a ROC with ascending FPR."""
    gap = (fpr + tpr - 1).double()  # −1 at (0, 0), +1 at (1, 1), non-decreasing along the curve
    k = int(torch.nonzero(gap >= 0)[0])
    if k == 0 or gap[k] == 0:
        return float(fpr[k])
    s = float(-gap[k - 1] / (gap[k] - gap[k - 1]))
    return float(fpr[k - 1] + s * (fpr[k] - fpr[k - 1]))


def _curve(flagged_pos: torch.Tensor, flagged_neg: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """ROC points with ascending FPR from per-threshold counts, (0, 0) of a threshold above every error
    prepended."""
    zero = flagged_pos.new_zeros(1)
    tpr = torch.cat([zero, flagged_pos.flip(0)]).double() / pos.double()
    fpr = torch.cat([zero, flagged_neg.flip(0)]).double() / neg.double()
    return fpr, tpr


class PixelLocalisation(Metric):
    """Streamed pixel AUROC and UCSD pixel-level ROC over (error map, mask) batches (module docstring)."""

    full_state_update = False

    def __init__(self, bins: int = DEFAULT_BINS, min_fraction: float = UCSD_MIN_FRACTION) -> None:
        super().__init__()
        if not 0 <= min_fraction <= 1:
            raise LnraError(f"localisation.min_fraction must be in [0, 1], got {min_fraction}")
        self.bins = bins
        self.thresholds = threshold_grid(bins)
        self.edges = torch.cat([self.thresholds, torch.tensor([math.inf])])
        # an exact ratio, so "at least 40 %" is decided in integers at its boundary
        ratio = Fraction(min_fraction).limit_denominator(10**6)
        self.fraction = (ratio.numerator, ratio.denominator)
        for name in ("pixel_pos", "pixel_neg", "frame_tp", "frame_fp"):
            self.add_state(name, torch.zeros(bins, dtype=torch.long), dist_reduce_fx="sum")
        for name in ("frames_pos", "frames_neg"):
            self.add_state(name, torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def bin_index(self, errors: torch.Tensor) -> torch.Tensor:
        """Per error the index of the highest threshold it reaches: a logarithm corrected by one comparison
        on each side equals a search of the grid at a third of ``torch.bucketize``'s CPU cost; in place,
        since a new temporary of a 16×240×360 batch can cost as much as the arithmetic on it."""
        n = self.bins
        edges = self.edges.to(errors.device)
        errors = errors.float().clamp(0, MAX_ERROR)
        step = math.log(MAX_ERROR / MIN_ERROR) / (n - 2)
        index = errors.clamp_min(MIN_ERROR).log_().sub_(math.log(MIN_ERROR)).div_(step).long().add_(1)
        index.masked_fill_(errors < MIN_ERROR, 0).clamp_max_(n - 1)
        index.sub_((edges[index] > errors).long())
        return index.add_((edges[index + 1] <= errors).long())

    def update(self, errors: torch.Tensor, masks: torch.Tensor) -> None:
        """Add a batch: (B, H, W) error maps and (B, H, W) bool masks."""
        n, batch = self.bins, errors.shape[0]
        masks = masks.to(device=errors.device, dtype=torch.bool)
        # one histogram per frame and class: (B, 2, n), class 1 = anomalous pixels
        key = self.bin_index(errors).add_(masks.long(), alpha=n)
        key += torch.arange(batch, device=errors.device).view(-1, 1, 1) * (2 * n)
        hist = torch.bincount(key.flatten(), minlength=batch * 2 * n).view(batch, 2, n)
        flagged = hist.flip(2).cumsum(2).flip(2)  # pixels with error ≥ each threshold
        self.pixel_neg += flagged[:, 0].sum(0)
        self.pixel_pos += flagged[:, 1].sum(0)
        n_gt = flagged[:, 1, 0]
        anomalous = n_gt > 0
        num, den = self.fraction
        self.frame_tp += (flagged[anomalous, 1] * den >= num * n_gt[anomalous, None]).sum(0)
        self.frame_fp += (flagged[~anomalous, 0] > 0).sum(0)  # a normal frame: any flagged pixel
        self.frames_pos += anomalous.sum()
        self.frames_neg += (~anomalous).sum()

    def compute(self) -> dict[str, float | None]:
        """``pixel_auroc``, ``pixel_ucsd_auc``, ``pixel_ucsd_eer`` in [0, 1]; None where a class is absent."""
        out: dict[str, float | None] = {"pixel_auroc": None, "pixel_ucsd_auc": None, "pixel_ucsd_eer": None}
        if self.pixel_pos[0] > 0 and self.pixel_neg[0] > 0:
            out["pixel_auroc"] = roc_auc(*_curve(self.pixel_pos, self.pixel_neg, self.pixel_pos[0],
                                                 self.pixel_neg[0]))
        if self.frames_pos > 0 and self.frames_neg > 0:
            fpr, tpr = _curve(self.frame_tp, self.frame_fp, self.frames_pos, self.frames_neg)
            out["pixel_ucsd_auc"] = roc_auc(fpr, tpr)
            out["pixel_ucsd_eer"] = equal_error_rate(fpr, tpr)
        return out

