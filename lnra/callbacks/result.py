"""The side outputs of the pass that gives the result (the test, or ``task=train``'s last validation):
localisation metrics (docs/guide.md, Localisation) and result pictures (Looking at results)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, Any

import pytorch_lightning as pl
from PIL import Image
from pydantic import Field

from lnra import pictures
from lnra.callbacks import add_png, board, centre_frames
from lnra.config.options import checked
from lnra.config.types import Count, Probability
from lnra.loading.batches import EvalBatch
from lnra.method.module import closing_pass
from lnra.method.pixel_metrics import DEFAULT_BINS, MAX_BINS, UCSD_MIN_FRACTION, PixelLocalisation, error_maps
from lnra.pictures import Colormap, ErrorColours, ErrorMax, PanelSpool, panel_row, to_uint8

log = logging.getLogger(__name__)


@checked
class LocalisationMetrics(pl.Callback):
    """Pixel AUROC and the UCSD pixel-level AUC/EER, logged as ``test/pixel_*`` or ``val/pixel_*``."""

    def __init__(
        self,
        validation: Annotated[bool, Field(description="also after every validation epoch")] = False,
        sigma: Annotated[float, Field(ge=0, description="Gaussian smoothing of the error maps, in mask "
                                      "pixels")] = 0.0,
        bins: Annotated[int, Field(ge=2, le=MAX_BINS, description="thresholds of the streamed ROCs")
                        ] = DEFAULT_BINS,
        min_fraction: Annotated[Probability, Field(description="UCSD criterion: share of a frame's anomalous "
                                                   "pixels that must be flagged")] = UCSD_MIN_FRACTION,
    ) -> None:
        self.validation = validation
        self.sigma, self.bins, self.min_fraction = float(sigma), int(bins), float(min_fraction)
        self.seconds = 0.0  # time spent in the metrics during the last evaluation
        self._metric: PixelLocalisation | None = None

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds, self._metric = 0.0, None
        if closing_pass(trainer) or (self.validation and not trainer.sanity_checking):
            self._metric = PixelLocalisation(self.bins, self.min_fraction).to(pl_module.device)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: EvalBatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        frames = centre_frames(outputs, batch)
        if self._metric is None or batch.mask is None or frames is None:
            return
        start = time.perf_counter()  # inside Lightning's evaluation: no autograd
        maps = error_maps(frames[1], frames[0], tuple(batch.mask.shape[-2:]), self.sigma)
        self._metric.update(maps, batch.mask)
        self.seconds += time.perf_counter() - start

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._metric is None or not self._metric.frames():
            return
        start = time.perf_counter()
        results = self._metric.compute()
        self.seconds += time.perf_counter() - start
        prefix = "test" if trainer.testing else "val"
        pl_module.log_dict({f"{prefix}/{k}": v for k, v in results.items() if v is not None}, sync_dist=False)
        self._metric = None
        log.info("%s pixel metrics (%.1f s): %s", prefix, self.seconds,
                 ", ".join(f"{k} {v:.4f}" if v is not None else f"{k} n/a" for k, v in results.items()))

    on_test_epoch_start, on_test_batch_end = on_validation_epoch_start, on_validation_batch_end
    on_test_epoch_end = on_validation_epoch_end


@checked
class ResultVisualiser(pl.Callback):
    """Writes the result's pass's images (per batch), anomaly timelines and demo videos into ``run_dir``."""

    def __init__(
        self,
        run_dir: Path,
        images: Annotated[bool, Field(description="per test window: input | reconstruction | error map PNGs, "
                                      "images/<video>/<frame>.png")] = False,
        video: Annotated[bool, Field(description="per test video: videos/<video>.mp4 with the panels above "
                                     "the score curve")] = False,
        timelines: Annotated[bool, Field(description="per test video: timelines/<video>.png, score vs frame, "
                                         "ground truth shaded")] = True,
        fps: Annotated[Count, Field(description="frames per second of the demo videos")] = 10,
        error_max: ErrorMax = 0.5,
        colormap: Colormap = "inferno",
        min_panel: Annotated[Count, Field(description="small frames are enlarged to at least this many "
                                          "pixels")] = 192,
        localisation: Annotated[bool, Field(description="a 4th panel: the error heat map over the frame and "
                                            "the ground-truth outline (needs pixel masks)")] = False,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.images, self.video, self.timelines = images, video, timelines
        self.localisation, self.fps, self.min_panel = localisation, fps, min_panel
        self.colours = ErrorColours(colormap, error_max)
        self._spools: dict[int, PanelSpool] = {}

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.video and trainer.world_size > 1:
            log.warning("demo videos need all of a video's windows in one process; skipped with %d devices",
                        trainer.world_size)
            self.video = False
        self._discard_spools()

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: EvalBatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        centre = centre_frames(outputs, batch)
        if not (self.images or self.video) or not closing_pass(trainer) or centre is None:
            return
        frames, recons = (to_uint8(f[:, 0]) for f in centre)
        localised = self.localisation and batch.mask is not None
        masks = batch.mask.cpu().numpy() if localised else [None] * len(frames)
        names = batch.videos.names
        for frame, recon, mask, video, index in zip(frames, recons, masks, batch.video.tolist(),
                                                     batch.frame.tolist(), strict=True):
            if self.images:
                folder = self.run_dir / "images" / names[video]
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(panel_row(frame, recon, self.colours, localise=self.localisation, mask=mask)
                                ).save(folder / f"{index:04d}.png", compress_level=1)
            if self.video:
                if video not in self._spools:
                    self._spools[video] = PanelSpool(self.run_dir / "videos" / f".{names[video]}.spool",
                                                     *frame.shape)
                self._spools[video].append(index, frame, recon, mask)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Timelines and videos need each video's final scores: drawn when the result's pass ends."""
        evaluation = getattr(pl_module, "evaluation", None)
        result_pass = (closing_pass(trainer) and trainer.is_global_zero and evaluation is not None
                       and (self.timelines or self.video))
        writer, plot = board(trainer), pictures.TimelinePlot()
        try:
            for v, timeline in pictures.video_timelines(evaluation) if result_pass else []:
                if self.timelines:
                    (self.run_dir / "timelines").mkdir(parents=True, exist_ok=True)
                    image = plot.image(timeline)
                    data = pictures.png(image)
                    pictures.save_png(data, self.run_dir / "timelines" / f"{timeline.name}.png")
                    if writer is not None:
                        add_png(writer, f"timeline/{timeline.name}", image, trainer.global_step, data)
                if self.video and v in self._spools:
                    pictures.write_demo_video(self.run_dir / "videos" / f"{timeline.name}.mp4", timeline,
                                              self._spools[v], self.colours, self.fps, self.min_panel,
                                              self.localisation)
        finally:
            self._discard_spools()

    on_test_start, on_test_batch_end = on_validation_start, on_validation_batch_end
    on_test_end = on_validation_end

    def _discard_spools(self) -> None:
        for spool in self._spools.values():
            spool.discard()
        self._spools.clear()
        spool_dir = self.run_dir / "videos"
        if spool_dir.is_dir() and not any(spool_dir.iterdir()):
            spool_dir.rmdir()
