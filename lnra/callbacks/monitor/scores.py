"""Scores, per validation epoch: each test video's anomaly timeline and the score histograms of normal
and anomalous frames — from the module's ``evaluation``, the same numbers the AUC came from."""

from __future__ import annotations

from typing import Annotated

import pytorch_lightning as pl
from pydantic import Field

from lnra.callbacks.monitor.board import board
from lnra.config.options import checked
from lnra.config.types import NonNegative
from lnra.pictures import Timeline, figure_to_array, timeline_figure

TIMELINE_TAG = "val_timeline/{video}"
HISTOGRAM_TAG = "val_scores/{label}"


@checked
class ScoreMonitor(pl.Callback):
    """Per epoch, the timelines of at most ``timelines`` test videos (spread over the list) and the
    per-video normalised anomaly scores of normal vs anomalous frames."""

    def __init__(self, timelines: Annotated[NonNegative, Field(description="score timelines of at most this "
                                                              "many test videos")] = 16,
                 histograms: Annotated[bool, Field(description="anomaly scores of normal vs anomalous "
                                                   "frames")] = True) -> None:
        self.timelines, self.histograms = timelines, histograms

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = board(trainer)
        evaluation = getattr(pl_module, "evaluation", None)
        if writer is None or evaluation is None:
            return
        step = trainer.current_epoch
        if self.histograms:
            for label, name in ((0, "normal"), (1, "anomalous")):
                values = evaluation.anomaly_score[evaluation.labels == label]
                if values.size:
                    writer.add_histogram(HISTOGRAM_TAG.format(label=name), values, step)
        names, labels = evaluation.videos.names, evaluation.videos.labels
        videos = [v for v in range(len(names)) if (evaluation.video_index == v).any()]
        if self.timelines and videos:
            step_of = max(1, -(-len(videos) // self.timelines))
            for v in videos[::step_of]:
                at = evaluation.video_index == v
                name = names[v]
                timeline = Timeline(f"{name} (epoch {step})", evaluation.frame_index[at],
                                    evaluation.anomaly_score[at], labels[v])
                image = figure_to_array(timeline_figure(timeline, width_px=640, height_px=200))
                writer.add_image(TIMELINE_TAG.format(video=name), image, step, dataformats="HWC")
