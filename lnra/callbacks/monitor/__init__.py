"""TensorBoard views of a training run, refreshed at every validation epoch (step = epoch).

Someone watching a sweep wants to see, without opening files, whether the model learns *not to
reconstruct* and which cell is ahead. The ``monitor`` config group switches each view; every view is a
callback with one job, and all of them reuse what validation already computed: the reconstructed
centre frames that ``validation_step`` returns and the module's ``last_evaluation`` (scores, labels).
They write only where the run has a TensorBoard logger, and only on rank 0.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig

from lnra.callbacks.monitor.health import HealthMonitor
from lnra.callbacks.monitor.hparams import HParamsLogger, run_hparams
from lnra.callbacks.monitor.pseudo_clips import PseudoClipImages
from lnra.callbacks.monitor.scores import ScoreMonitor
from lnra.callbacks.monitor.window_images import FixedWindowImages
from lnra.pictures import ErrorColours

__all__ = ["HParamsLogger", "HealthMonitor", "PseudoClipImages", "ScoreMonitor", "FixedWindowImages",
           "build_monitor"]


def build_monitor(cfg: DictConfig, run_dir: Path) -> list[pl.Callback]:
    """The callbacks that ``cfg.monitor`` switches on (none for ``monitor=none``)."""
    m = cfg.get("monitor")
    if not m:
        return []
    colours = ErrorColours(m.colormap, m.error_max)
    callbacks: list[pl.Callback] = []
    if m.windows:
        callbacks.append(FixedWindowImages(int(m.windows), colours))
    if m.pseudo_clips:
        callbacks.append(PseudoClipImages(int(m.pseudo_clips), colours, seed=int(cfg.seed)))
    if m.timelines or m.histograms:
        callbacks.append(ScoreMonitor(timelines=int(m.timelines), histograms=bool(m.histograms)))
    if m.hparams:
        callbacks.append(HParamsLogger(run_hparams(cfg, Path(run_dir))))
    if m.health:
        callbacks.append(HealthMonitor())
    return callbacks
