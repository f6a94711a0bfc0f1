"""One row per run in TensorBoard's HParams table, so a sweep shows as one sortable table.

The run's settings (dataset, variant, technique, source, α, β, p, jumps, seed, resolution, precision,
epochs and the run directory's name — a sweep's cell) are written when training starts, with the
metric tags declared; the metrics themselves (last and best validation micro AUC, best epoch) are
scalars updated at every validation epoch, so the table of a running sweep is always current.
Settings that do not apply to a variant are NaN (α, β) or "-" (technique, source, jumps).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from torch.utils.tensorboard.summary import hparams

from lnra.callbacks.monitor.board import board

METRICS = ("hparams/auc_last", "hparams/auc_best", "hparams/best_epoch")
COLUMNS = ("run", "dataset", "variant", "technique", "source", "alpha", "beta", "p", "jumps", "seed",
           "resolution", "precision", "epochs")
NOT_APPLICABLE = "-"


def source_name(source: Any) -> str:
    """A short name of an intruder source config: its ``name`` (video sources), its folder, or its class."""
    if source is None:
        return NOT_APPLICABLE
    if source.get("name"):
        return str(source.name)
    if source.get("root"):
        return Path(str(source.root)).name
    cls = str(source.get("_target_", "")).rsplit(".", 1)[-1].removesuffix("Source")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower() or NOT_APPLICABLE


def run_hparams(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """The run's HParams values that come from its config (precision and epochs come from the trainer)."""
    pseudo = cfg.pseudo
    skip = pseudo.get("skip")
    patches = list(pseudo.get("patches") or [])
    techniques = (["skip_frame"] if skip else []) + [str(patch.technique) for patch in patches]
    first = patches[0] if patches else None
    p = (float(skip.p) if skip else 0.0) + sum(float(patch.p) for patch in patches)
    return {
        "run": Path(run_dir).name,
        "dataset": str(cfg.dataset.name),
        "variant": str(pseudo.name),
        "technique": "+".join(techniques) or "none",
        "source": "+".join(source_name(patch.get("source")) for patch in patches) or NOT_APPLICABLE,
        "alpha": float(first.max_size) if first else math.nan,
        "beta": float(first.max_move) if first else math.nan,
        "p": p,
        "jumps": ",".join(str(j) for j in skip.jump) if skip else NOT_APPLICABLE,
        "seed": int(cfg.seed),
        "resolution": f"{cfg.dataset.height}x{cfg.dataset.width}",
    }


class HParamsLogger(pl.Callback):
    """Writes the HParams session when training starts and its metrics after every validation."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = board(trainer)
        if writer is None:
            return
        values = {**self.values, "precision": str(trainer.precision), "epochs": int(trainer.max_epochs)}
        file_writer = writer._get_file_writer()
        for summary in hparams(values, dict.fromkeys(METRICS, 0.0)):
            file_writer.add_summary(summary)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = board(trainer)
        history = [h for h in getattr(pl_module, "history", []) if not math.isnan(h["auc_micro"])]
        if writer is None or not history:
            return
        best = max(history, key=lambda h: h["auc_micro"])
        step = trainer.current_epoch
        for tag, value in zip(METRICS, (history[-1]["auc_micro"], best["auc_micro"], best["epoch"]),
                              strict=True):
            writer.add_scalar(tag, value, step)
