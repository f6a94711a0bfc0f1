"""The evaluation protocol of docs/method.md §6 as pure functions on arrays; nothing here is approximate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from lnra.data.labels import TestVideos
from lnra.errors import LnraError
from lnra.method.losses import per_sample_mse


def centre_index(clip_len: int) -> int:
    """The frame of a window that the window scores: 8 for the paper's 16-frame clips."""
    return clip_len // 2


def scored_labels(labels: np.ndarray, clip_len: int) -> np.ndarray:
    """The labels of the frames that the windows score: ``labels[8 : len-7]`` for 16-frame clips."""
    c = centre_index(clip_len)
    return labels[c : len(labels) - (clip_len - 1 - c)]


def frame_psnr(recon: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Per-sample fp32 PSNR ``10·log10(1/MSE)`` of [-1, 1] centre frames (B, C, H, W): a window's score."""
    return 10.0 * torch.log10(1.0 / per_sample_mse(recon, frame).clamp_min(1e-12))


def min_max(values: np.ndarray) -> np.ndarray:
    """Scale one video's scores to [0, 1]; a constant video maps to zeros rather than NaN."""
    lo, hi = float(values.min()), float(values.max())
    if hi == lo:
        return np.zeros_like(values, dtype=np.float64)
    return (values - lo) / (hi - lo)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    if labels.min() == labels.max():
        raise LnraError(f"the scored test frames are all {'anomalous' if labels.max() else 'normal'} "
                        f"({len(labels)} frames): the AUC is undefined; check the label file")
    return float(roc_auc_score(labels, scores))


@dataclass
class Evaluation:
    """AUCs (in [0, 1]) and the per-frame arrays they came from, in video order, with the test videos they
    index, so whoever reports it needs nothing else. Not frozen: torchmetrics' ``compute`` rebuilds it."""

    auc_micro: float
    auc_macro: float
    auc_micro_global: float
    psnr: np.ndarray
    anomaly_score: np.ndarray
    labels: np.ndarray
    video_index: np.ndarray
    frame_index: np.ndarray
    videos: TestVideos

    @property
    def n_frames(self) -> int:
        return len(self.labels)


def evaluate(psnr_per_video: list[np.ndarray], videos: TestVideos, clip_len: int) -> Evaluation:
    """The micro AUC of docs/method.md §6; also the macro AUC (over videos with both classes) and the micro
    AUC of raw −PSNR, which shows how much the per-video normalisation contributes."""
    scored = []  # (video, window PSNRs, their labels) of each video long enough for a window
    for v, (psnr, lab) in enumerate(zip(psnr_per_video, videos.labels, strict=True)):
        lab_v = scored_labels(np.asarray(lab), clip_len)
        if len(lab_v) != len(psnr):
            raise LnraError(f"video {v}: {len(psnr)} window scores but {len(lab_v)} scored labels "
                            f"({len(lab)} frames); a video of n frames has n-{clip_len - 1} windows")
        if len(psnr):
            scored.append((v, np.asarray(psnr, dtype=np.float64), lab_v))
    if not scored:
        raise LnraError(f"no test video is at least {clip_len} frames long: nothing to score")
    vids, psnrs, labs = zip(*scored, strict=True)
    anomaly = [1.0 - min_max(p) for p in psnrs]
    macro = [roc_auc_score(lab, a) for lab, a in zip(labs, anomaly, strict=True) if lab.min() != lab.max()]
    all_psnr, all_scores = np.concatenate(psnrs), np.concatenate(anomaly)
    all_labels = np.concatenate(labs).astype(np.int64)
    return Evaluation(
        auc_micro=_auc(all_labels, all_scores),
        auc_macro=float(np.mean(macro)) if macro else float("nan"),
        auc_micro_global=_auc(all_labels, -all_psnr),
        psnr=all_psnr,
        anomaly_score=all_scores,
        labels=all_labels,
        video_index=np.concatenate([np.full(len(p), v) for v, p in zip(vids, psnrs, strict=True)]),
        frame_index=np.concatenate([np.arange(len(p)) for p in psnrs]) + centre_index(clip_len),
        videos=videos,
    )
