"""Every validation's ``val/*`` values as the run logged them (for ``results.json`` and ``summary.md``),
read once the epoch's logging is closed; the history travels in every checkpoint."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback


class History(Callback):
    """``epochs``: one dict per validation, ``{"epoch": n, "auc_micro": ..., ...}`` (``val/`` left off)."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Before the checkpoint callbacks (Lightning runs them last): each checkpoint has its epoch."""
        if trainer.sanity_checking or "val/auc_micro" not in trainer.callback_metrics:
            return
        entry = {"epoch": trainer.current_epoch}
        entry |= {key.removeprefix("val/"): float(value) for key, value in trainer.callback_metrics.items()
                  if key.startswith("val/")}
        self.epochs = [e for e in self.epochs if e["epoch"] != entry["epoch"]] + [entry]

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs = list(state_dict.get("epochs", []))
