"""The test-time visualiser callback: result images per batch, then per video the anomaly timeline and
the demo video, drawn by :mod:`lnra.pictures` into the run directory."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from PIL import Image
from pytorch_lightning.loggers import TensorBoardLogger

from lnra.data.pixel_masks import MaskStore
from lnra.method.scoring import centre_index
from lnra.pictures import (
    ErrorColours,
    PanelSpool,
    Timeline,
    localisation_panel,
    panel_row,
    save_timeline_png,
    to_uint8,
    write_demo_video,
)

log = logging.getLogger(__name__)


class ResultVisualizer(pl.Callback):
    """Writes result images, anomaly timelines and demo videos of a test into the run directory.

    Result images are written per batch; timelines and videos need each video's final scores, so
    they are drawn at ``on_test_end`` from the module's evaluation (docs/method.md §6 scores).
    """

    def __init__(self, run_dir: str | Path, images: bool = False, video: bool = False,
                 timelines: bool = True, fps: float = 10, error_max: float = 0.5, colormap: str = "inferno",
                 min_panel: int = 192, localisation: bool = False) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.images, self.video, self.timelines = images, video, timelines
        self.localisation = localisation
        self._masks: MaskStore | None = None
        self.fps, self.min_panel = fps, min_panel
        self.colours = ErrorColours(colormap, error_max)
        self._spools: dict[int, PanelSpool] = {}

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.video and trainer.world_size > 1:
            log.warning("demo videos need all of a video's windows in one process; skipped with %d devices",
                        trainer.world_size)
            self.video = False
        self._discard_spools()
        datamodule = trainer.datamodule
        has_masks = self.localisation and hasattr(datamodule, "pixel_masks")
        self._masks = datamodule.pixel_masks() if has_masks else None

    def _mask(self, video: int, frame: int) -> np.ndarray | None:
        """The ground-truth mask of a frame, or None when the dataset has none."""
        if self._masks is None:
            return None
        return self._masks.masks(self._masks.frame_index(np.array([video]), np.array([frame])))[0]

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        if not (self.images or self.video) or not outputs or "recon_centre" not in outputs:
            return
        c = centre_index(pl_module.clip_len)
        frames = to_uint8(batch.clip[:, 0, c])
        recons = to_uint8(outputs["recon_centre"][:, 0])
        names = pl_module.test_videos.names
        for frame, recon, video, window in zip(frames, recons, batch.video.tolist(), batch.window.tolist(),
                                               strict=True):
            index = window + c
            if self.images:
                folder = self.run_dir / "images" / names[video]
                folder.mkdir(parents=True, exist_ok=True)
                overlay = (localisation_panel(frame, recon, self.colours, self._mask(video, index))
                           if self.localisation else None)
                Image.fromarray(panel_row(frame, recon, self.colours, overlay=overlay)).save(
                    folder / f"{index:04d}.png", compress_level=1)
            if self.video:
                if video not in self._spools:
                    self._spools[video] = PanelSpool(self.run_dir / "videos" / f".{names[video]}.spool",
                                                     *frame.shape)
                self._spools[video].append(index, frame, recon)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        evaluation = getattr(pl_module, "last_evaluation", None)
        if evaluation is None or not trainer.is_global_zero or not (self.timelines or self.video):
            self._discard_spools()
            return
        try:
            for v, name in enumerate(evaluation.videos.names):
                mask = evaluation.video_index == v
                if not mask.any():
                    continue
                timeline = Timeline(name, evaluation.frame_index[mask], evaluation.anomaly_score[mask],
                                    evaluation.videos.labels[v])
                if self.timelines:
                    self._write_timeline(trainer, timeline)
                if self.video and v in self._spools:
                    spool = self._spools[v]
                    masks = (lambda t, v=v: self._mask(v, t)) if self.localisation else None
                    write_demo_video(self.run_dir / "videos" / f"{name}.mp4", timeline, spool.read(),
                                     spool.shape[1:], self.colours, self.fps, self.min_panel, masks)
                    spool.discard()
        finally:
            self._discard_spools()

    def _write_timeline(self, trainer: pl.Trainer, timeline: Timeline) -> None:
        folder = self.run_dir / "timelines"
        folder.mkdir(parents=True, exist_ok=True)
        fig = save_timeline_png(timeline, folder / f"{timeline.name}.png")
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure(f"timeline/{timeline.name}", fig, trainer.global_step,
                                             close=False)

    def _discard_spools(self) -> None:
        for spool in self._spools.values():
            spool.discard()
        self._spools.clear()
        spool_dir = self.run_dir / "videos"
        if spool_dir.is_dir() and not any(spool_dir.iterdir()):
            shutil.rmtree(spool_dir)
