"""The one place that turns a composed config into a run's objects: each comes from a ``_target_`` entry (a
user swaps any from the command line); this adds what flows between them (clip shape, run facts)."""

from __future__ import annotations

from functools import partial
from itertools import count
from pathlib import Path
from typing import Any, NamedTuple

import pytorch_lightning as pl
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from lnra.callbacks.checkpoints import History
from lnra.callbacks.monitor import preview_batch
from lnra.config.options import import_target, options_of
from lnra.errors import LnraError
from lnra.loading.datamodule import VideoDataModule
from lnra.method.module import LnraModule
from lnra.pseudo.selection import PseudoAnomalies
from lnra.pseudo.skip import SkipFrame
from lnra.run.results import run_hparams


class RunObjects(NamedTuple):
    datamodule: VideoDataModule
    module: LnraModule
    trainer: pl.Trainer
    history: History


def instantiate_entry(node: Any, what: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` whose failures are one line, not Hydra's chain: the user needs the key."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, LnraError):
            raise err.__cause__ from None
        reason = str(err.__cause__ or "") or str(err).splitlines()[0]  # Hydra's first line names the target
        raise LnraError(f"cannot build {what}: {reason}") from None


def build_datamodule(cfg: DictConfig, training: bool = True) -> VideoDataModule:
    """The DataModule with, when training, pseudo anomalies built for its frames (docs/method.md §4)."""
    datamodule = instantiate_entry(cfg.dataset, "the DataModule (dataset=...)", _convert_="object")
    if not training:
        return datamodule
    what = f"the patch pseudo anomaly of pseudo={cfg.pseudo.name}"
    shape = {"height": datamodule.height, "width": datamodule.width, "clip_len": datamodule.clip_len}
    patches = []
    for entry in cfg.pseudo.get("patches") or []:
        source = {"source": instantiate_entry(entry.source, what, **wired(entry.source, shape))} \
            if entry.get("source") is not None else {}
        patches.append(instantiate_entry(entry, what, **source))
    skip = cfg.pseudo.get("skip")
    skip_frame = None if skip is None else SkipFrame(**OmegaConf.to_container(skip))
    datamodule.pseudo = PseudoAnomalies(skip=skip_frame, patches=patches)
    return datamodule


def build_module(cfg: DictConfig, datamodule: VideoDataModule) -> LnraModule:
    """The LightningModule, its net built for the data's clip shape: one it cannot halve is refused early."""
    shape = {"frames": datamodule.clip_len, "height": datamodule.height, "width": datamodule.width}
    net = instantiate_entry(cfg.model.net, "the net (model.net)", **wired(cfg.model.net, shape))
    loss = {"loss": instantiate_entry(cfg.loss, "the loss (loss=...)")} if cfg.get("loss") is not None else {}
    settings = OmegaConf.masked_copy(cfg.model, [k for k in cfg.model if k != "net"])
    return instantiate_entry(settings, "the LightningModule (model=...)", net=net, **loss)


def wired(node: DictConfig, facts: dict[str, Any]) -> dict[str, Any]:
    """The run's facts that ``node``'s class asks for by parameter name and the config does not set."""
    params = options_of(import_target(node._target_))
    return {name: value for name, value in facts.items() if name in params and name not in node}


def build_logger(cfg: DictConfig, run_dir: Path) -> Any:
    """The logger, or False. A resumed run appends to TensorBoard's events (one run, one HParams row), but
    Lightning's CSV logger would delete ``metrics.csv``: it moves on to ``<name>/resume<k>``."""
    if not cfg.get("logger"):
        return False
    folder = Path(run_dir) / str(cfg.logger.get("name") or "")
    taken = folder / str(cfg.logger.get("version") or "")
    version = {}
    if not str(cfg.logger.get("_target_", "")).endswith("TensorBoardLogger") and taken.is_dir() \
            and any(taken.iterdir()):
        version = {"version": next(f"resume{k}" for k in count(1) if not (folder / f"resume{k}").exists())}
    return instantiate_entry(cfg.logger, "the logger", save_dir=str(run_dir), **version)


def build_trainer(cfg: DictConfig, run_dir: Path, datamodule: VideoDataModule | None = None,
                  history: History | None = None, **overrides: Any) -> pl.Trainer:
    """The Trainer with the logger, ``history`` and each callback, given the run's facts it asks for."""
    datamodule = datamodule or build_datamodule(cfg)
    facts: dict[str, Any] = {"run_dir": Path(run_dir), "seed": int(cfg.seed),
                             "preview": partial(preview_batch, datamodule),
                             "hparams": run_hparams(cfg, run_dir, datamodule)}
    callbacks = [instantiate_entry(entry, f"callbacks.{name}", **wired(entry, facts))
                 for name, entry in (cfg.get("callbacks") or {}).items() if entry is not None]
    return instantiate_entry(cfg.trainer, "the trainer", logger=build_logger(cfg, run_dir),
                             callbacks=[*callbacks, *([history] if history else [])],
                             default_root_dir=str(run_dir), **overrides)


def build_run(cfg: DictConfig, run_dir: Path, training: bool = True, **trainer_overrides: Any) -> RunObjects:
    """A run's objects (seeded first), the data's listing checked (cheaply) before anything heavy starts."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg, training)
    module = build_module(cfg, datamodule)
    datamodule.check_test_split()
    if training:
        datamodule.check_train_split()
    history = History()
    trainer = build_trainer(cfg, run_dir, datamodule, history, **trainer_overrides)
    return RunObjects(datamodule, module, trainer, history)


