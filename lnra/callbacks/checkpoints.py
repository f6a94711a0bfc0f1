"""What a run keeps to be scored again or continued (docs/guide.md, Interrupted runs): ``best.ckpt``,
``last.ckpt``, each epoch's weights if asked; every checkpoint holds the validation history and RNG states."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytorch_lightning as pl
import torch
from pydantic import Field
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from lnra.config.options import checked
from lnra.diskio import atomic_torch_save


class LastEveryValidation(ModelCheckpoint):
    """``ModelCheckpoint`` writing ``last.ckpt`` after every validation, not only when the AUC improved (a
    killed run would train those epochs again); its state key is a plain ``ModelCheckpoint``'s."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.dirpath is None:  # <run dir>/checkpoints, not under the logger's folder (Lightning's default)
            self.dirpath = str(Path(trainer.default_root_dir) / "checkpoints")
        super().setup(trainer, pl_module, stage)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):  # validation ran in this epoch's last step
            self._save_last_if_skipped(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_skipped(trainer)

    def _save_last_if_skipped(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` unless Lightning saved (and so wrote it) at this step."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _generate_state_key(self, **kwargs: Any) -> str:
        return f"ModelCheckpoint{kwargs!r}"


class History(Callback):
    """``epochs``: every validation's ``val/*`` values as the run logged them (for ``results.json`` and
    ``summary.md``), ``{"epoch": n, "auc_micro": ...}`` (``val/`` left off)."""

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


@checked
class EpochWeights(Callback):
    """``checkpoints/epoch_NNN.ckpt``, weights only, after every epoch, so that any epoch can be re-scored
    (``task=test ckpt_path=...``) as the paper's authors could."""

    def __init__(
        self,
        enabled: Annotated[bool, Field(description="keep every epoch's weights")] = False,
        folder: Annotated[str | None, Field(description="null: <run dir>/checkpoints")] = None,
    ) -> None:
        self.enabled, self.folder = enabled, folder

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled or trainer.fast_dev_run or not trainer.is_global_zero:  # a smoke test keeps none
            return
        folder = Path(trainer.default_root_dir) / "checkpoints" if self.folder is None else Path(self.folder)
        full = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
        weights = {key: full[key] for key in ("state_dict", "epoch", "global_step", "lnra_clip_shape")}
        weights["callbacks"] = {"History": full["callbacks"].get("History")}  # the epochs' AUCs so far
        atomic_torch_save(weights, folder / f"epoch_{trainer.current_epoch:03d}.ckpt")


class RngState(Callback):
    """The generator states in every checkpoint, restored on resume (Lightning does not): a resumed run draws
    what an uninterrupted one would."""

    def state_dict(self) -> dict[str, Any]:
        """Python, NumPy and torch generator states, as ``torch.load(weights_only=True)`` reads them back."""
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state(),
                                 "numpy": (kind, keys.tolist(), pos, has_gauss, gauss)}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        random.setstate(state_dict["python"])
        kind, keys, pos, has_gauss, gauss = state_dict["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


@contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Seeded draws leaving every global generator as it was: pictures drawn in training change nothing."""
    state = RngState().state_dict()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        RngState().load_state_dict(state)
