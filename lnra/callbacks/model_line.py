"""The model in one line at the start of fitting: Lightning's summary table repeats what lnra says
elsewhere and shows a FLOPs column that reads 0 for a module without ``example_input_array``."""

from __future__ import annotations

import logging

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelSummary
from pytorch_lightning.utilities.model_summary import summarize
from pytorch_lightning.utilities.model_summary.model_summary import get_human_readable_count

log = logging.getLogger(__name__)


class ModelLine(ModelSummary):
    """The model in one line (name, parameters, size) instead of Lightning's table, whose FLOPs column
    reads 0 for a module without ``example_input_array``."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            summary = summarize(pl_module, max_depth=0)
            net = getattr(pl_module, "model", pl_module)
            log.info("model: %s, %s parameters (%.1f MB)", type(getattr(net, "_orig_mod", net)).__name__,
                     get_human_readable_count(summary.total_parameters), summary.model_size)
