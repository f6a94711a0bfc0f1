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
MAX_BINS = 100_000  # the bucket table of bin_index: 8 MB at this many
MIN_ERROR = 1e-6  # below 1/60 of one grey level squared: indistinguishable from 0
MAX_ERROR = 4.0  # (1 − (−1))²
UCSD_MIN_FRACTION = 0.4


def grid_shift(bins: int) -> int:
    """How many low bits of a float32 the grid ignores: fewer than half its step, so rounding the thresholds
    keeps them apart, and the float's top bits alone find an error's bin."""
    step = math.log(MAX_ERROR / MIN_ERROR) / max(1, bins - 2)
    return 23 - min(23, max(0, math.ceil(math.log2(2 / step))))


def threshold_grid(bins: int = DEFAULT_BINS) -> torch.Tensor:
    """The ``bins`` thresholds, ascending: 0, then ``bins − 1`` values geometric from 1e-6 to 4, each rounded
    down to a float whose low ``grid_shift(bins)`` bits are 0."""
    if not 2 <= bins <= MAX_BINS:
        raise LnraError(f"localisation.bins must be in [2, {MAX_BINS}], got {bins}")
    shift = grid_shift(bins)
    geometric = torch.from_numpy(np.geomspace(MIN_ERROR, MAX_ERROR, bins - 1)).float().view(torch.int32)
    return torch.cat([torch.zeros(1), (geometric >> shift << shift).view(torch.float32)])


def upsample_errors(err: torch.Tensor, size: tuple[int, int], sigma: float = 0.0) -> torch.Tensor:
    """(B, 1, h, w) squared errors → (B, H, W) at ``size``: bilinear (half-pixel centres), then a separable
    Gaussian (kernel radius ⌈3σ⌉, borders replicated)."""
    err = err.float()
    if tuple(err.shape[-2:]) != tuple(size):
        err = F.interpolate(err, size=tuple(size), mode="bilinear", align_corners=False)
    if sigma > 0:
        radius = max(1, math.ceil(3 * sigma))
        x = torch.arange(-radius, radius + 1, dtype=err.dtype, device=err.device)
        kernel = torch.exp(-0.5 * (x / sigma) ** 2)
        kernel = kernel / kernel.sum()
        err = F.pad(err, (radius, radius, radius, radius), mode="replicate")
        err = F.conv2d(F.conv2d(err, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
    return err[:, 0]


def error_maps(recon: torch.Tensor, frame: torch.Tensor, size: tuple[int, int], sigma: float = 0.0
               ) -> torch.Tensor:
    """(B, H, W) squared-error maps at the mask size ``(H, W)`` from (B, 1, h, w) frames in [-1, 1]."""
    return upsample_errors((recon.float() - frame.float()).pow(2), size, sigma)


def equal_error_rate(fpr: torch.Tensor, tpr: torch.Tensor) -> float:
    """The FPR where FPR = 1 − TPR (= the miss rate), interpolated on a ROC with ascending FPR."""
    gap = (fpr + tpr - 1).double()  # −1 at (0, 0), +1 at (1, 1), non-decreasing along the curve
    k = int(torch.nonzero(gap >= 0)[0])
    if k == 0 or gap[k] == 0:
        return float(fpr[k])
    s = float(-gap[k - 1] / (gap[k] - gap[k - 1]))
    return float(fpr[k - 1] + s * (fpr[k] - fpr[k - 1]))


def _roc(flagged_pos: torch.Tensor, flagged_neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """ROC points (FPR, TPR) with ascending FPR from per-threshold counts (at threshold 0: every one of the
    class), (0, 0) of a threshold above every error prepended, and the trapezoidal area under them."""
    zero = flagged_pos.new_zeros(1)
    tpr = torch.cat([zero, flagged_pos.flip(0)]).double() / flagged_pos[0].double()
    fpr = torch.cat([zero, flagged_neg.flip(0)]).double() / flagged_neg[0].double()
    return fpr, tpr, float(torch.trapezoid(tpr, fpr))


class PixelLocalisation(Metric):
    """Streamed pixel AUROC and UCSD pixel-level ROC over (error map, mask) batches (module docstring)."""

    full_state_update = False

    def __init__(self, bins: int = DEFAULT_BINS, min_fraction: float = UCSD_MIN_FRACTION) -> None:
        super().__init__()
        self.bins, self.shift = bins, grid_shift(bins)
        # each bucket of floats sharing their top bits lies between two thresholds: a table gives its bin
        top = int(torch.tensor(MAX_ERROR).view(torch.int32)) >> self.shift
        lowest = (torch.arange(top + 1, dtype=torch.int32) << self.shift).view(torch.float32)
        bucket_bin = torch.bucketize(lowest, threshold_grid(bins), right=True).int() - 1
        self.register_buffer("bucket_bin", bucket_bin, persistent=False)
        # an exact ratio, so "at least 40 %" is decided in integers at its boundary
        self.fraction = Fraction(min_fraction).limit_denominator(10**6).as_integer_ratio()
        for name in ("pixel_pos", "pixel_neg", "frame_tp", "frame_fp"):
            self.add_state(name, torch.zeros(bins, dtype=torch.long), dist_reduce_fx="sum")

    def bin_index(self, errors: torch.Tensor) -> torch.Tensor:
        """Per error (flattened, int32) the index of the highest threshold it reaches. A non-negative float's
        bits sort as its value and the thresholds end where buckets of equal top bits do, so one look-up
        of the top bits is exact: a fifth of the cost of a logarithm corrected by comparisons
        (``index_select``: torch's advanced indexing is 4× slower). A NaN counts as the largest error."""
        errors = errors.float().reshape(-1).clamp(0, MAX_ERROR).nan_to_num_(MAX_ERROR)
        return self.bucket_bin.index_select(0, errors.view(torch.int32) >> self.shift)

    def update(self, errors: torch.Tensor, masks: torch.Tensor) -> None:
        """Add a batch: (B, H, W) error maps and (B, H, W) bool masks."""
        n, batch = self.bins, errors.shape[0]
        masks = masks.to(device=errors.device, dtype=torch.bool).reshape(batch, -1)
        # one histogram per frame and class: (B, 2, n), class 1 = anomalous pixels
        key = self.bin_index(errors).view(batch, -1).add_(masks, alpha=n)
        key += torch.arange(0, batch * 2 * n, 2 * n, device=errors.device, dtype=key.dtype).view(-1, 1)
        hist = torch.bincount(key.view(-1), minlength=batch * 2 * n).view(batch, 2, n)
        flagged = hist.flip(2).cumsum(2).flip(2)  # pixels with error ≥ each threshold
        self.pixel_neg += flagged[:, 0].sum(0)
        self.pixel_pos += flagged[:, 1].sum(0)
        n_gt = flagged[:, 1, 0]
        anomalous = n_gt > 0
        num, den = self.fraction
        # masked sums, not boolean indexing: that waits for the device to learn the selection's size
        self.frame_tp += ((flagged[:, 1] * den >= num * n_gt[:, None]) & anomalous[:, None]).sum(0)
        self.frame_fp += ((flagged[:, 0] > 0) & ~anomalous[:, None]).sum(0)  # normal: any flagged pixel

    def frames(self) -> int:
        """Frames added: at threshold 0 each anomalous frame is a true positive, each normal one a false."""
        return int(self.frame_tp[0] + self.frame_fp[0])

    def compute(self) -> dict[str, float | None]:
        """``pixel_auroc``, ``pixel_ucsd_auc``, ``pixel_ucsd_eer`` in [0, 1]; None where a class is absent."""
        out: dict[str, float | None] = dict.fromkeys(("pixel_auroc", "pixel_ucsd_auc", "pixel_ucsd_eer"))
        if self.pixel_pos[0] > 0 and self.pixel_neg[0] > 0:
            out["pixel_auroc"] = _roc(self.pixel_pos, self.pixel_neg)[2]
        if self.frame_tp[0] > 0 and self.frame_fp[0] > 0:  # frames of both kinds (see frames())
            fpr, tpr, auc = _roc(self.frame_tp, self.frame_fp)
            out["pixel_ucsd_auc"], out["pixel_ucsd_eer"] = auc, equal_error_rate(fpr, tpr)
        return out
