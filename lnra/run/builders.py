"""Turn a composed Hydra config into the objects of a run: data, pseudo anomalies, model, trainer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from lnra.callbacks.epoch_weights import EpochWeights
from lnra.callbacks.last_checkpoint import LastEveryValidation
from lnra.callbacks.monitor import build_monitor
from lnra.callbacks.preview import PreviewLogger
from lnra.callbacks.progress import ProgressLines, console_is_terminal
from lnra.callbacks.rng_state import RngStateCallback
from lnra.data.datamodule import VideoDataModule
from lnra.data.frames import list_videos
from lnra.data.synthetic import SyntheticSpec, generate_synthetic
from lnra.errors import LnraError
from lnra.method.model import check_clip_shape
from lnra.method.module import LnraModule
from lnra.pseudo import PseudoAnomalies, SkipFrame
from lnra.run.atomic_checkpoints import AtomicCheckpointIO
from lnra.run.console import ModelLine
from lnra.run.resume import free_logger_version

log = logging.getLogger(__name__)


def build_pseudo(cfg: DictConfig) -> PseudoAnomalies:
    """The pseudo-anomaly types of ``cfg.pseudo``: an optional skip frame and any patch techniques."""
    pseudo = cfg.pseudo
    skip = SkipFrame(p=float(pseudo.skip.p), jump=tuple(pseudo.skip.jump)) if pseudo.get("skip") else None
    patches = [build_patch(entry, cfg) for entry in pseudo.get("patches") or []]
    return PseudoAnomalies(skip=skip, patches=patches)


def build_patch(entry: DictConfig, cfg: DictConfig) -> Any:
    """One patch technique; its intruder source (usually ``${pseudo.source}``) is built first with the
    frame size, because intruders are resized to the whole frame (docs/method.md §4)."""
    try:
        source = instantiate(entry.source, height=cfg.dataset.height, width=cfg.dataset.width)
        return instantiate(entry, source=source)
    except InstantiationException as err:  # Hydra wraps our one-line errors (a missing folder, a bad α)
        if isinstance(err.__cause__, LnraError):
            raise err.__cause__ from None
        raise LnraError(f"cannot build the patch pseudo anomaly of pseudo={cfg.pseudo.name}: {err}") from None


def build_datamodule(cfg: DictConfig, pseudo: PseudoAnomalies | None = None) -> VideoDataModule:
    d = cfg.dataset
    check_clip_shape(d.clip_len, d.height, d.width)
    if d.get("generate"):
        generate_synthetic(Path(d.root), SyntheticSpec(**OmegaConf.to_container(d.generate)))
    return VideoDataModule(
        name=d.name, root=d.root, cache_dir=cfg.paths.cache_dir, height=d.height, width=d.width,
        clip_len=d.clip_len, batch_size=d.batch_size, eval_batch_size=d.eval_batch_size,
        num_workers=d.num_workers, pin_memory=d.get("pin_memory", False),
        cache_on_device=resolve_cache_on_device(cfg), labels_path=d.get("labels_path"), pseudo=pseudo,
    )


def resolve_cache_on_device(cfg: DictConfig) -> bool:
    """``dataset.cache_on_device: auto`` (trainer=gpu): keep both splits' uint8 frame caches in GPU memory
    when a GPU is used and they take at most half of its free memory — then a batch is only indices and
    the clips are gathered on the GPU; larger datasets stay in host memory and go through pinned loaders."""
    setting = cfg.dataset.get("cache_on_device", False)
    if str(setting) != "auto":
        return bool(setting)
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator not in ("gpu", "cuda", "auto") or not torch.cuda.is_available():
        return False
    d = cfg.dataset
    splits = ("training", "testing")
    frames = sum(sum(list_videos(Path(d.root) / split / "frames").lengths) for split in splits)
    needed, free = frames * int(d.height) * int(d.width), torch.cuda.mem_get_info()[0]
    fits = needed <= free // 2
    log.info("frame cache (%.2f GB) %s GPU memory (%.1f GB free)", needed / 1e9,
             "kept in" if fits else "too large for half of the", free / 1e9)
    return fits


def build_module(cfg: DictConfig, datamodule: VideoDataModule | None = None) -> LnraModule:
    """The LightningModule of ``cfg.model``, given what it needs to know of ``datamodule``: the test
    videos it scores and the names of its pseudo-anomaly kinds. Without a datamodule it cannot evaluate."""
    net = instantiate(cfg.model.net)
    channels_last = cfg.model.channels_last
    module = LnraModule(net, lr=cfg.model.lr, channels_last=bool(channels_last),
                        kind_names=datamodule.pseudo.kind_names if datamodule else (),
                        test_videos=datamodule.test_videos() if datamodule else None)
    if cfg.model.get("compile"):
        module.model = torch.compile(module.model)
    return module


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
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    kwargs.pop("_target_", None)
    kwargs["precision"] = resolve_precision(kwargs.get("precision", "auto"), str(kwargs.get("accelerator")))
    logger = False
    if cfg.get("logger"):
        # A resumed run keeps TensorBoard in its folder (event files are appended, so the run stays one
        # run and one HParams row, named after its run directory); a CSV log would be overwritten.
        appends = str(cfg.logger.get("_target_", "")).endswith("TensorBoardLogger")
        version = {} if appends else free_logger_version(run_dir, cfg.logger)
        logger = instantiate(cfg.logger, save_dir=str(run_dir), **version)
    checkpoint = LastEveryValidation(
        dirpath=run_dir / "checkpoints", filename="best", monitor="val/auc_micro", mode="max",
        save_last=True, auto_insert_metric_name=False, enable_version_counter=False,
    )
    callbacks: list[pl.Callback] = [checkpoint, RngStateCallback(), PreviewLogger(seed=cfg.seed)]
    if cfg.get("checkpoint") and cfg.checkpoint.get("every_epoch") and not kwargs.get("fast_dev_run"):
        callbacks.append(EpochWeights(run_dir / "checkpoints"))  # a smoke test keeps no checkpoint
    viz = cfg.get("viz")
    if viz and (viz.images or viz.video or viz.timelines):
        callbacks.append(instantiate(viz, run_dir=run_dir))
    if cfg.get("localisation"):
        callbacks.append(instantiate(cfg.localisation))
    callbacks += build_monitor(cfg, run_dir)
    kwargs.update(overrides)
    if kwargs.get("fast_dev_run"):  # a smoke test leaves no last.ckpt (Lightning writes one at its end),
        callbacks.remove(checkpoint)  # which resume=true would take for an interrupted run
        kwargs["enable_checkpointing"] = False
    if not console_is_terminal():  # a bar in a log file is a flood of carriage returns: lines instead
        kwargs["enable_progress_bar"] = False
    callbacks.append(ProgressLines(lines=kwargs.get("enable_progress_bar") is False))  # None: a bar
    if kwargs.get("enable_model_summary") is not False:
        callbacks.append(ModelLine())  # one line instead of Lightning's table (with its "0 Total Flops")
    try:
        return pl.Trainer(**kwargs, logger=logger, callbacks=callbacks, default_root_dir=str(run_dir),
                          plugins=[AtomicCheckpointIO()])
    except (ValueError, TypeError, pl.utilities.exceptions.MisconfigurationException) as err:
        raise LnraError(f"invalid trainer settings: {err}") from None
