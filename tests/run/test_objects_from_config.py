"""Objects come from config: the callbacks group, the DataModule and the LightningModule are built from
their ``_target_`` entries by the one build function (lnra.run.builders), and the command line can add,
drop or swap any of them."""

from __future__ import annotations

import logging

import pytest
from helpers.paths import TINY_DATASET
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

from lnra.callbacks.checkpoints import LastEveryValidation, RngState
from lnra.callbacks.monitor import PreviewLogger
from lnra.callbacks.progress import ModelLine, ProgressLines, clips_in
from lnra.config.options import config_mistakes
from lnra.loading.datamodule import VideoDataModule
from lnra.method.module import LnraModule
from lnra.run.builders import build_datamodule, build_module, build_run, build_trainer
from lnra.run.console import ConsoleFilter
from lnra.run.settings import RunSettings

TINY = [*TINY_DATASET, "model.net.widths=[8,8,8,8]", "logger=none"]


def _types(trainer) -> list[type]:
    return [type(c) for c in trainer.callbacks]


def test_the_default_callbacks_come_from_the_callbacks_group(compose_cfg, tmp_path) -> None:
    trainer = build_trainer(compose_cfg(*TINY), tmp_path)
    kinds = (LastEveryValidation, RngState, PreviewLogger, ProgressLines, ModelLine)
    for kind in kinds:
        assert _types(trainer).count(kind) == 1, kind
    (checkpoint,) = [c for c in trainer.callbacks if isinstance(c, LastEveryValidation)]
    assert checkpoint.monitor == "val/auc_micro" and checkpoint.mode == "max" and checkpoint.save_last


def test_the_command_line_adds_drops_and_swaps_callbacks(compose_cfg, tmp_path) -> None:
    added = compose_cfg(*TINY, "+callbacks.early_stop={_target_:pytorch_lightning.callbacks.EarlyStopping,"
                               "monitor:val/auc_micro,mode:max,patience:3}", "~callbacks.preview")
    types = _types(build_trainer(added, tmp_path))
    assert EarlyStopping in types and PreviewLogger not in types
    (stop,) = [c for c in build_trainer(added, tmp_path).callbacks if isinstance(c, EarlyStopping)]
    assert stop.patience == 3
    swapped = compose_cfg(*TINY, "callbacks.checkpoint._target_=pytorch_lightning.callbacks.ModelCheckpoint",
                          "callbacks.rng_state=null")
    types = _types(build_trainer(swapped, tmp_path))
    assert ModelCheckpoint in types and LastEveryValidation not in types and RngState not in types


def test_a_callback_entry_without_a_class_is_refused_with_the_config(compose_cfg) -> None:
    mistakes = [str(m) for m in config_mistakes(compose_cfg(*TINY, "+callbacks.mine={patience:3}"),
                                                RunSettings)]
    assert mistakes == ["callbacks.mine={patience:3}: needs a _target_ (the class to build, e.g. "
                        "pytorch_lightning.callbacks.EarlyStopping), or null to leave it out"]


def test_datamodule_and_module_are_built_from_their_targets(compose_cfg, tmp_path) -> None:
    cfg = compose_cfg(*TINY, "model.lr=0.002", "dataset.batch_size=3")
    assert cfg.dataset._target_ == "lnra.loading.datamodule.VideoDataModule"
    assert cfg.model._target_ == "lnra.method.module.LnraModule"
    data = build_datamodule(cfg)
    module = build_module(cfg, data)
    assert isinstance(module, LnraModule) and module.lr == 0.002
    assert module.model.clip_shape == (16, 32, 32)  # the net follows the dataset's clip shape
    assert isinstance(data, VideoDataModule) and data.batch_size == 3
    assert data.cache_dir == tmp_path / "cache"
    assert not (tmp_path / "data" / "synthetic").exists()  # generated on first listing, not when built
    run = build_run(cfg, tmp_path / "run")
    assert (tmp_path / "data" / "synthetic").is_dir() and len(run.datamodule.test_videos().labels) == 2


def test_a_bad_clip_shape_is_refused_before_the_dataset_is_generated(compose_cfg, tmp_path) -> None:
    from lnra.errors import LnraError

    cfg = compose_cfg(*TINY)
    cfg.dataset.height = 40  # past the config check, as a script could do
    with pytest.raises(LnraError, match="height=40: must be a positive multiple of 16"):
        build_run(cfg, tmp_path / "run")
    assert not (tmp_path / "data" / "synthetic").exists()


def test_clips_in_counts_the_samples_of_every_batch_form() -> None:
    import dataclasses

    import torch

    @dataclasses.dataclass
    class Batch:
        name: str
        clip: torch.Tensor

    clip = torch.zeros(5, 1, 2, 3, 3)
    assert clips_in(Batch("x", clip)) == clips_in({"clip": clip}) == clips_in([clip]) == clips_in(clip) == 5


def test_the_throughput_totals_go_to_run_log_not_the_console() -> None:
    record = logging.LogRecord("lnra.callbacks.progress", logging.INFO, __file__, 1, "test: 5 windows",
                               None, None)
    assert ConsoleFilter().filter(record)
    record.file_only = True
    assert not ConsoleFilter().filter(record)


def _refuses(value: int) -> None:
    raise ValueError(f"value {value} is out of range for this device")


def test_a_failed_build_says_the_reason_not_only_the_target() -> None:
    """Hydra's first line names only the class; the line a user reads carries the exception's own words."""
    from omegaconf import OmegaConf

    from lnra.errors import LnraError
    from lnra.run.builders import instantiate_entry

    node = OmegaConf.create({"_target_": f"{__name__}._refuses", "value": 7})
    with pytest.raises(LnraError, match=r"^cannot build the thing \(x=\.\.\.\): value 7 is out of range"):
        instantiate_entry(node, "the thing (x=...)")
