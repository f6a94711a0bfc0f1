"""Turn a composed Hydra config into the objects of a run: data, pseudo anomalies, model, trainer.

:func:`build_run` is the one place that does it, for ``run.py``'s tasks, the benchmarks and the tests.
Every object comes from a ``_target_`` entry of the config (``dataset``, ``model``, ``logger``, the
``callbacks`` group, ``viz``, ``localisation``), so a user swaps a component or adds a callback from the
command line; this module only adds what the config cannot say: the objects one entry hands another
(the pseudo anomalies to the DataModule), the run directory, and the trainer settings that follow
from the console and from a smoke test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint, ModelSummary

from lnra.callbacks.monitor import build_monitor
from lnra.callbacks.progress import console_is_terminal
from lnra.errors import LnraError
from lnra.loading.datamodule import VideoDataModule
from lnra.method.module import LnraModule
from lnra.pseudo import PseudoAnomalies, SkipFrame
from lnra.run.atomic_checkpoints import AtomicCheckpointIO
from lnra.run.resume import free_logger_version

log = logging.getLogger(__name__)


@dataclass
class RunObjects:
    """What a task needs: the data, the LightningModule and the Trainer, built for one run directory."""

    datamodule: VideoDataModule
    module: LnraModule
    trainer: pl.Trainer


def build_run(cfg: DictConfig, run_dir: Path, training: bool = True, **trainer_overrides: Any) -> RunObjects:
    """Build a run's objects and check the data's listing (cheap) before anything heavy starts.

    ``training=False`` (scoring a checkpoint) builds no pseudo anomalies and needs no training split.
    The module is built before the data is listed: a clip shape the autoencoder cannot halve is refused
    before a synthetic dataset is generated or a frame cache is written.
    """
    datamodule = build_datamodule(cfg, build_pseudo(cfg) if training else None)
    make_module = module_factory(cfg)
    datamodule.check_test_split()
    if training:
        datamodule.check_train_split()
    module = make_module(**data_facts(datamodule))
    return RunObjects(datamodule, module, build_trainer(cfg, run_dir, **trainer_overrides))


def instantiate_entry(node: DictConfig, what: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` whose failures are one line: Hydra wraps our own one-line errors (a
    missing folder, a bad α) and a wrong argument in a long chain; the user needs the config key."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, LnraError):
            raise err.__cause__ from None
        raise LnraError(f"cannot build {what}: {str(err).splitlines()[0]}") from None


def build_pseudo(cfg: DictConfig) -> PseudoAnomalies:
    """The pseudo-anomaly types of ``cfg.pseudo``: an optional skip frame and any patch techniques."""
    pseudo = cfg.pseudo
    skip = SkipFrame(p=float(pseudo.skip.p), jump=tuple(pseudo.skip.jump)) if pseudo.get("skip") else None
    patches = [build_patch(entry, cfg) for entry in pseudo.get("patches") or []]
    return PseudoAnomalies(skip=skip, patches=patches)


def build_patch(entry: DictConfig, cfg: DictConfig) -> Any:
    """One patch technique; its intruder source (usually ``${pseudo.source}``) is built first with the
    frame size, because intruders are resized to the whole frame (docs/method.md §4)."""
    what = f"the patch pseudo anomaly of pseudo={cfg.pseudo.name}"
    source = instantiate_entry(entry.source, what, height=cfg.dataset.height, width=cfg.dataset.width)
    return instantiate_entry(entry, what, source=source)


def build_datamodule(cfg: DictConfig, pseudo: PseudoAnomalies | None = None) -> VideoDataModule:
    """The ``dataset`` entry's DataModule, with the pseudo anomalies it applies to training batches."""
    return instantiate_entry(cfg.dataset, f"the DataModule of dataset={cfg.dataset.name}", pseudo=pseudo,
                             _convert_="object")


def module_factory(cfg: DictConfig) -> Callable[..., LnraModule]:
    """The ``model`` entry's LightningModule class with its arguments bound, and its ``net`` (the
    autoencoder) already built — so a clip shape it cannot halve is refused here, before any data is
    generated or listed. Called with :func:`data_facts` once the test split is known."""
    return instantiate_entry(cfg.model, "the LightningModule (model=...)", _partial_=True)


def data_facts(datamodule: VideoDataModule | None) -> dict[str, Any]:
    """What the module is told about the data: the test videos it scores (names and labels) and the names
    of the pseudo-anomaly kinds. Without a datamodule the module trains and loads weights, but cannot
    evaluate."""
    if datamodule is None:
        return {}
    return {"kind_names": list(datamodule.pseudo.kind_names), "test_videos": datamodule.test_videos()}


def build_module(cfg: DictConfig, datamodule: VideoDataModule | None = None) -> LnraModule:
    """The ``model`` entry's LightningModule, given what it needs to know of ``datamodule``."""
    return module_factory(cfg)(**data_facts(datamodule))


def build_callbacks(cfg: DictConfig, run_dir: Path) -> list[pl.Callback]:
    """Every entry of the ``callbacks`` group (an entry set to null is left out), then the result pictures,
    the localisation metrics and the TensorBoard views, which have config groups of their own."""
    callbacks = []
    for name, entry in (cfg.get("callbacks") or {}).items():
        if entry is not None:  # each entry's _target_ is checked with the rest of the config
            callbacks.append(instantiate_entry(entry, f"callbacks.{name}"))
    viz = cfg.get("viz")
    if viz and (viz.images or viz.video or viz.timelines):
        callbacks.append(instantiate_entry(viz, "viz", run_dir=run_dir))
    if cfg.get("localisation"):
        callbacks.append(instantiate_entry(cfg.localisation, "localisation"))
    return callbacks + build_monitor(cfg, run_dir)


def cpu_supports_bf16() -> bool:
    """True where oneDNN has native bf16 kernels (AVX-512 BF16 or AMX); elsewhere bf16 is emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto`` → bf16 mixed precision where the device runs it natively, else fp32 (said once)."""
    if str(precision) != "auto":
        return str(precision)
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if cpu_supports_bf16():
        return "bf16-mixed"
    log.info("this CPU has no native bf16 support: training in fp32")
    return "32-true"


def build_trainer(cfg: DictConfig, run_dir: Path, **overrides: Any) -> pl.Trainer:
    """The Trainer of ``cfg.trainer`` (plus ``overrides``) with the config's logger and callbacks, writing
    into ``run_dir`` (its ``default_root_dir``, where callbacks put checkpoints and pictures)."""
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    kwargs.pop("_target_", None)
    kwargs["precision"] = resolve_precision(kwargs.get("precision", "auto"), str(kwargs.get("accelerator")))
    kwargs.update(overrides)
    logger = False
    if cfg.get("logger"):
        # A resumed run keeps TensorBoard in its folder (event files are appended, so the run stays one
        # run and one HParams row, named after its run directory); a CSV log would be overwritten.
        appends = str(cfg.logger.get("_target_", "")).endswith("TensorBoardLogger")
        version = {} if appends else free_logger_version(run_dir, cfg.logger)
        logger = instantiate_entry(cfg.logger, "the logger", save_dir=str(run_dir), **version)
    callbacks = build_callbacks(cfg, run_dir)
    if kwargs.get("fast_dev_run"):  # a smoke test leaves no last.ckpt (Lightning writes one at its end),
        callbacks = [c for c in callbacks if not isinstance(c, ModelCheckpoint)]  # which resume=true
        kwargs["enable_checkpointing"] = False  # would take for an interrupted run
    if kwargs.get("enable_model_summary") is False:
        callbacks = [c for c in callbacks if not isinstance(c, ModelSummary)]
    if not console_is_terminal():  # a bar in a log file is a flood of carriage returns: progress lines
        kwargs["enable_progress_bar"] = False
    try:
        return pl.Trainer(**kwargs, logger=logger, callbacks=callbacks, default_root_dir=str(run_dir),
                          plugins=[AtomicCheckpointIO()])
    except (ValueError, TypeError, pl.utilities.exceptions.MisconfigurationException) as err:
        raise LnraError(f"invalid trainer settings: {err}") from None
