"""The LightningModule: the autoencoder, the learning-not-to-reconstruct loss and the AUC evaluation.

Training reads (input, target, kind) per sample, as the DataModule made them, so the loss needs no
knowledge of how pseudo anomalies are produced. Validation and test run the exact protocol of
docs/method.md §6 and gather every rank's window scores before computing the AUC.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from lnra.data.pixels import window_count
from lnra.errors import LnraError
from lnra.method.scoring import Evaluation, centre_index, centre_psnr, evaluate
from lnra.pseudo import KIND_NORMAL

log = logging.getLogger(__name__)


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE against each sample's own target (docs/method.md §3), in fp32: shape (B,)."""
    return (recon.float() - target.float()).pow(2).flatten(1).mean(1)


@dataclass
class _WindowScores:
    """Window PSNRs collected over an evaluation epoch, with their (video, window) identity."""

    psnr: list[torch.Tensor] = field(default_factory=list)
    video: list[torch.Tensor] = field(default_factory=list)
    window: list[torch.Tensor] = field(default_factory=list)

    def add(self, psnr: torch.Tensor, video: torch.Tensor, window: torch.Tensor) -> None:
        self.psnr.append(psnr.detach())
        self.video.append(video.detach())
        self.window.append(window.detach())

    def per_video(self, module: pl.LightningModule, n_videos: int) -> list[np.ndarray]:
        """All ranks' scores, de-duplicated (distributed samplers pad) and ordered by video and window."""
        psnr, video, window = (torch.cat(x) for x in (self.psnr, self.video, self.window))
        if module.trainer.world_size > 1:
            psnr, video, window = (module.all_gather(x).flatten() for x in (psnr, video, window))
        key = video.long() * (1 << 32) + window.long()
        key, first = np.unique(key.cpu().numpy(), return_index=True)
        psnr = psnr.float().cpu().numpy()[first]
        video = (key >> 32).astype(np.int64)
        return [psnr[video == v] for v in range(n_videos)]


class LnraModule(pl.LightningModule):
    """Autoencoder + learning-not-to-reconstruct loss + frame-level AUC.

    Built from the ``model`` config (its ``_target_``), whose ``net`` is the autoencoder; ``compile``
    wraps it in ``torch.compile`` (the state-dict keys stay those of the plain network)."""

    def __init__(self, net: nn.Module, lr: float = 1e-4, channels_last: bool = False,
                 compile: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.model = torch.compile(net) if compile else net
        self.lr = lr
        self.channels_last = channels_last
        self.clip_len = net.clip_shape[0]
        self._scores = _WindowScores()
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
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        per_sample = reconstruction_loss(self(batch["input"]), batch["target"])
        loss = per_sample.mean()
        if not torch.isfinite(loss):
            names = self.trainer.datamodule.pseudo.kind_names if self.trainer.datamodule else []
            kinds = sorted({names[k] if k < len(names) else str(k) for k in batch["kind"].tolist()})
            raise LnraError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, step {self.global_step} "
                f"(pseudo kinds in the batch: {', '.join(kinds)}); lower the learning rate or check the data"
            )
        pseudo = batch["kind"] != KIND_NORMAL
        size = per_sample.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/pseudo_fraction", pseudo.float().mean(), batch_size=size)
        for name, mask in (("normal", ~pseudo), ("pseudo", pseudo)):
            count = int(mask.sum())
            if count:
                self.log(f"train/loss_{name}", per_sample[mask].mean(), batch_size=count)
        return loss

    # -- evaluation -----------------------------------------------------------------------------
    def _score_step(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        clip = batch["clip"]
        recon = self(clip)
        self._scores.add(centre_psnr(recon, clip, self.clip_len), batch["video"], batch["window"])
        return recon

    def _evaluate(self, prefix: str) -> Evaluation | None:
        labels = self.trainer.datamodule.test_labels
        psnr = self._scores.per_video(self, len(labels))
        self._scores = _WindowScores()
        seen = sum(len(p) for p in psnr)
        expected = sum(window_count(len(lab), self.clip_len) for lab in labels)
        if seen != expected:
            if self.trainer.fast_dev_run:  # Lightning's smoke test scores one batch: tasks.py skips the AUC
                return None
            raise LnraError(
                f"{prefix} scored {seen} of the {expected} test windows: the AUC is defined over every "
                f"window; remove trainer.limit_{prefix}_batches"
            )
        result = evaluate(psnr, labels, self.clip_len)
        self.last_evaluation = result
        for name in ("auc_micro", "auc_macro", "auc_micro_global"):
            value = getattr(result, name)
            if not math.isnan(value):
                self.log(f"{prefix}/{name}", value, prog_bar=name == "auc_micro")
        if prefix == "val":
            self.history.append({"epoch": self.current_epoch, "auc_micro": result.auc_micro,
                                 "auc_macro": result.auc_macro, "auc_micro_global": result.auc_micro_global})
        return result

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """Score the windows; hand the reconstructed centre frames to callbacks, as at test time."""
        recon = self._score_step(batch)
        return {"recon_centre": recon[:, :, centre_index(self.clip_len)]}

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._scores = _WindowScores()
            return
        self._evaluate("val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """Score the windows; hand the reconstructed centre frames to callbacks (result images, videos)."""
        recon = self._score_step(batch)
        return {"recon_centre": recon[:, :, centre_index(self.clip_len)]}

    def on_test_epoch_end(self) -> None:
        self._evaluate("test")
