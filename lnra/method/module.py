"""The LightningModule: a net, a loss and the AUC evaluation. What the evaluation needs of the data arrives
in every :class:`~lnra.loading.batches.EvalBatch`, so the module knows nothing of the dataset."""

from __future__ import annotations

import math
from functools import partial
from typing import Annotated, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from pydantic import Field
from torch import nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from lnra.config.options import checked
from lnra.config.types import Positive
from lnra.data.labels import TestVideos
from lnra.data.pixels import window_count
from lnra.errors import LnraError
from lnra.loading.batches import EvalBatch, TrainBatch, window_key
from lnra.method.losses import LntraLoss, TrainingLoss
from lnra.method.model import centre_reconstruction
from lnra.method.scoring import Evaluation, centre_index, evaluate, frame_psnr
from lnra.pseudo.kinds import KIND_NORMAL

CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


def closing_pass(trainer: pl.Trainer) -> bool:
    """Whether this evaluation may give the run's result (and its localisation and pictures): the test, a
    standalone validation, or the last epoch's validation, which spares scoring the same weights again."""
    last_epoch = 0 < (trainer.max_epochs or 0) <= trainer.current_epoch + 1
    return not trainer.sanity_checking and (trainer.testing or trainer.state.fn != "fit" or last_epoch)


class IncompleteScoresError(LnraError):
    """The pass scored only part of the test windows (``trainer.limit_*_batches``, ``fast_dev_run``)."""


class WindowScores(Metric):
    """Window PSNRs of one ``stage`` (val or test), gathered over ranks, de-duplicated (a sampler pads)."""

    full_state_update = False

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage = stage
        self.videos: TestVideos | None = None
        for name in ("psnr", "video", "window"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, psnr: torch.Tensor, video: torch.Tensor, window: torch.Tensor,
               videos: TestVideos) -> None:
        """Add scored windows: their PSNR, video index and window index into ``videos``."""
        self.videos = videos
        self.psnr.append(psnr.detach())
        self.video.append(video.detach())
        self.window.append(window.detach())

    def compute(self) -> Evaluation:
        """The AUCs over every test window, each window's score once (every rank's, once synced);
        :class:`IncompleteScoresError` when some were not scored."""
        psnr = [np.zeros(0, np.float32) for _ in (self.videos.names if self.videos else ())]
        if len(self.psnr):  # per video, in window order
            scores, video, window = (dim_zero_cat(x) for x in (self.psnr, self.video, self.window))
            key, first = np.unique(window_key(video, window).cpu().numpy(), return_index=True)
            scores, video = scores.float().cpu().numpy()[first], (key >> 32).astype(np.int64)
            psnr = [scores[video == v] for v in range(len(self.videos.names))]
        seen = sum(len(p) for p in psnr)
        expected = sum(window_count(len(labels), self.videos.clip_len) for labels in self.videos.labels) \
            if self.videos else "?"
        if seen != expected:
            raise IncompleteScoresError(
                f"{self.stage} scored {seen} of the {expected} test windows: the AUC is defined over "
                f"every window; remove trainer.limit_{self.stage}_batches")
        return evaluate(psnr, self.videos, self.videos.clip_len)


@checked
class LnraModule(pl.LightningModule):
    """Net + loss + frame-level AUC. ``compile`` wraps the net's training forward and its evaluation (the
    centre-frame decode) in ``torch.compile``; the state-dict keys stay those of the plain net."""

    def __init__(
        self,
        net: nn.Module,
        loss: TrainingLoss | None = None,
        lr: Annotated[Positive, Field(description="Adam's learning rate")] = 1e-4,
        channels_last: Annotated[bool, Field(description="channels-last 3D memory format for the net and its "
                                             "clips")] = True,
        compile: Annotated[bool | CompileMode, Field(description="torch.compile the net for training and "
                                                     "evaluation: true (mode default) or a mode")] = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "loss"])
        mode = "default" if compile is True else compile
        self.model, self.centre = net, partial(centre_reconstruction, net)
        if mode:
            self.model, self.centre = torch.compile(net, mode=mode), torch.compile(self.centre, mode=mode)
        self.loss = loss or LntraLoss()
        self.lr, self.channels_last = lr, channels_last
        self.scores = {False: WindowScores("val"), True: WindowScores("test")}  # by trainer.testing
        # The best validation AUC so far and its epoch, kept in the checkpoint for a resumed run.
        self.register_buffer("best_auc", torch.tensor(-math.inf, dtype=torch.float64))
        self.register_buffer("best_epoch", torch.tensor(-1))
        self.evaluation: Evaluation | None = None
        self.closed_at_step: int | None = None  # global step of the last closing pass's evaluation
        self.flops_per_batch = None  # Lightning's throughput tools read it; FLOPs are not counted here

    def setup(self, stage: str) -> None:
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last_3d)

    def _laid_out(self, clips: torch.Tensor) -> torch.Tensor:
        return clips.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else clips

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model(self._laid_out(clips))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if (shape := getattr(self.model, "clip_shape", None)) is not None:  # torch.compile passes it on
            checkpoint["lnra_clip_shape"] = list(shape)

    # -- training -------------------------------------------------------------------------------
    def training_step(self, batch: TrainBatch, batch_idx: int) -> torch.Tensor:
        per_sample = self.loss(self(batch.input), batch)
        penalties = self.model.penalties() if hasattr(self.model, "penalties") else {}  # a memory's entropy
        loss = per_sample.mean() + sum(penalties.values())
        if not torch.isfinite(loss):
            kinds = ", ".join(sorted({batch.kind_names[k] for k in batch.kind.tolist()}))
            raise LnraError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, step {self.global_step} "
                f"(pseudo kinds in the batch: {kinds}); lower the learning rate or check the data")
        pseudo = batch.kind != KIND_NORMAL
        size = per_sample.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/pseudo_fraction", pseudo.float().mean(), batch_size=size)
        for name, mask in (("normal", ~pseudo), ("pseudo", pseudo)):
            if mask.any():
                self.log(f"train/loss_{name}", per_sample[mask].mean(), batch_size=int(mask.sum()))
        for name, value in penalties.items():
            self.log(f"train/loss_{name}", value, batch_size=size)
        return loss

    # -- evaluation (validation and test alike; ``self.scores`` keeps them apart) ------------------
    def validation_step(self, batch: EvalBatch, batch_idx: int) -> dict[str, torch.Tensor]:
        """Score the windows; hand the reconstructed centre frames to callbacks (images, error maps)."""
        centre = self.centre(self._laid_out(batch.clip))
        frame = batch.clip[:, :, centre_index(batch.videos.clip_len)]
        scores = self.scores[self.trainer.testing]
        scores.update(frame_psnr(centre, frame), batch.video, batch.window, batch.videos)
        return {"recon_centre": centre}

    test_step = validation_step

    def on_validation_epoch_end(self) -> None:
        scores = self.scores[self.trainer.testing]
        try:
            if self.trainer.sanity_checking:
                return
            self.evaluation = result = scores.compute()
        except IncompleteScoresError:  # Lightning's smoke test scores one batch: tasks.py skips the AUC
            if not self.trainer.fast_dev_run:
                raise
            self.evaluation = None
            return
        finally:
            scores.reset()
        if closing_pass(self.trainer):
            self.closed_at_step = self.global_step
        for name in ("auc_micro", "auc_macro", "auc_micro_global"):
            value = getattr(result, name)
            if not math.isnan(value):
                self.log(f"{scores.stage}/{name}", value, prog_bar=name == "auc_micro")
        if not self.trainer.testing:
            if result.auc_micro > self.best_auc:
                self.best_auc.fill_(result.auc_micro)
                self.best_epoch.fill_(self.current_epoch)
            self.log("val/auc_best", self.best_auc.float())
            self.log("val/best_epoch", self.best_epoch.float())

    on_test_epoch_end = on_validation_epoch_end
