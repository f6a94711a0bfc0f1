"""The LightningModule: the autoencoder, the learning-not-to-reconstruct loss and the AUC evaluation.

Training reads (input, target, kind) per sample, as the DataModule made them, so the loss needs no
knowledge of how pseudo anomalies are produced. Validation and test run the exact protocol of
docs/method.md §6 through :class:`~lnra.method.window_scores.WindowScores`, which gathers every rank's
window scores before computing the AUC. What the module needs to know about the data — the test
videos' names and labels, the pseudo-anomaly kinds' names — it is given when built, never read from
``trainer.datamodule``; its steps read the named batches of :mod:`lnra.loading.batches`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torch import nn

from lnra.data.labels import TestVideos
from lnra.errors import LnraError
from lnra.loading.batches import EvalBatch, TrainBatch
from lnra.method.scoring import Evaluation, centre_index, centre_psnr
from lnra.method.window_scores import IncompleteScoresError, WindowScores
from lnra.pseudo import KIND_NORMAL

log = logging.getLogger(__name__)


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE against each sample's own target (docs/method.md §3), in fp32: shape (B,)."""
    return (recon.float() - target.float()).pow(2).flatten(1).mean(1)


class LnraModule(pl.LightningModule):
    """Autoencoder + learning-not-to-reconstruct loss + frame-level AUC.

    Built from the ``model`` config (its ``_target_``), whose ``net`` is the autoencoder; ``compile``
    wraps it in ``torch.compile`` (the state-dict keys stay those of the plain network).

    ``test_videos`` (the test split's names and labels) is what validation and test score against;
    without it the module trains and loads weights but cannot evaluate. ``kind_names`` names the
    pseudo-anomaly kind codes in the error of a diverging loss. Neither is a hyperparameter: they
    describe the data, and stay out of the checkpoint and the logged hparams.
    """

    def __init__(self, net: nn.Module, lr: float = 1e-4, channels_last: bool = False, compile: bool = False,
                 kind_names: Sequence[str] = (), test_videos: TestVideos | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "kind_names", "test_videos"])
        self.model = torch.compile(net) if compile else net
        self.lr = lr
        self.channels_last = channels_last
        self.clip_len = net.clip_shape[0]
        self.kind_names = list(kind_names)
        self.test_videos = test_videos
        self.val_scores: WindowScores | None = None
        self.test_scores: WindowScores | None = None
        if test_videos is not None:
            self.val_scores = WindowScores(test_videos, self.clip_len, "val")
            self.test_scores = WindowScores(test_videos, self.clip_len, "test")
        self.last_evaluation: Evaluation | None = None
        self.history: list[dict[str, float]] = []

    def setup(self, stage: str) -> None:
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last_3d)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        return self.model(clips)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["lnra_history"] = self.history
        checkpoint["lnra_clip_shape"] = list(getattr(self.model, "_orig_mod", self.model).clip_shape)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = list(checkpoint.get("lnra_history", []))

    # -- training -------------------------------------------------------------------------------
    def training_step(self, batch: TrainBatch, batch_idx: int) -> torch.Tensor:
        per_sample = reconstruction_loss(self(batch.input), batch.target)
        loss = per_sample.mean()
        if not torch.isfinite(loss):
            names = self.kind_names
            kinds = sorted({names[k] if k < len(names) else str(k) for k in batch.kind.tolist()})
            raise LnraError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, step {self.global_step} "
                f"(pseudo kinds in the batch: {', '.join(kinds)}); lower the learning rate or check the data"
            )
        pseudo = batch.kind != KIND_NORMAL
        size = per_sample.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/pseudo_fraction", pseudo.float().mean(), batch_size=size)
        for name, mask in (("normal", ~pseudo), ("pseudo", pseudo)):
            count = int(mask.sum())
            if count:
                self.log(f"train/loss_{name}", per_sample[mask].mean(), batch_size=count)
        return loss

    # -- evaluation -----------------------------------------------------------------------------
    def _scores(self, stage: str) -> WindowScores:
        scores = self.val_scores if stage == "val" else self.test_scores
        if scores is None:
            raise LnraError(f"this LnraModule was built without test_videos, so it cannot score the {stage} "
                            "pass: give it the test videos' names and labels (see run.builders.build_module)")
        return scores

    def _score_step(self, batch: EvalBatch, stage: str) -> dict[str, torch.Tensor]:
        """Score the windows; hand the reconstructed centre frames to callbacks (images, error maps)."""
        recon = self(batch.clip)
        self._scores(stage).update(centre_psnr(recon, batch.clip, self.clip_len), batch.video, batch.window)
        return {"recon_centre": recon[:, :, centre_index(self.clip_len)]}

    def _evaluate(self, stage: str) -> Evaluation | None:
        scores = self._scores(stage)
        try:
            result = scores.compute()
        except IncompleteScoresError:
            if self.trainer.fast_dev_run:  # Lightning's smoke test scores one batch: tasks.py skips the AUC
                return None
            raise
        finally:
            scores.reset()
        self.last_evaluation = result
        for name in ("auc_micro", "auc_macro", "auc_micro_global"):
            value = getattr(result, name)
            if not math.isnan(value):
                self.log(f"{stage}/{name}", value, prog_bar=name == "auc_micro")
        if stage == "val":
            self.history.append({"epoch": self.current_epoch, "auc_micro": result.auc_micro,
                                 "auc_macro": result.auc_macro, "auc_micro_global": result.auc_micro_global})
        return result

    def validation_step(self, batch: EvalBatch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._score_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._scores("val").reset()
            return
        self._evaluate("val")

    def test_step(self, batch: EvalBatch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._score_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._evaluate("test")
