"""Turn a composed Hydra config into the objects of a run: data, pseudo anomalies, model, trainer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from lnra.data.datamodule import VideoDataModule
from lnra.data.synthetic import SyntheticSpec, generate_synthetic
from lnra.errors import LnraError
from lnra.model import check_clip_shape
from lnra.module import LnraModule
from lnra.pseudo import PseudoAnomalies, SkipFrame

log = logging.getLogger(__name__)


def build_pseudo(cfg: DictConfig) -> PseudoAnomalies:
    """The pseudo-anomaly types of ``cfg.pseudo``: an optional skip frame and any patch techniques."""
    pseudo = cfg.pseudo
    skip = SkipFrame(p=float(pseudo.skip.p), jump=tuple(pseudo.skip.jump)) if pseudo.get("skip") else None
    patches = [build_patch(entry, cfg) for entry in pseudo.get("patches") or []]
    return PseudoAnomalies(skip=skip, patches=patches)


def build_patch(entry: DictConfig, cfg: DictConfig) -> Any:
    """One patch technique; its intruder source (usually ``${pseudo.source}``) is built first with the
    frame size, because intruders are resized to the whole frame (SPEC §4)."""
    source = instantiate(entry.source, height=cfg.dataset.height, width=cfg.dataset.width)
    return instantiate(entry, source=source)


def build_datamodule(cfg: DictConfig, pseudo: PseudoAnomalies | None = None) -> VideoDataModule:
    d = cfg.dataset
    check_clip_shape(d.clip_len, d.height, d.width)
    if d.get("generate"):
        generate_synthetic(Path(d.root), SyntheticSpec(**OmegaConf.to_container(d.generate)))
    return VideoDataModule(
        name=d.name, root=d.root, cache_dir=cfg.paths.cache_dir, height=d.height, width=d.width,
        clip_len=d.clip_len, batch_size=d.batch_size, eval_batch_size=d.eval_batch_size,
        num_workers=d.num_workers, pin_memory=d.get("pin_memory", False),
        cache_on_device=d.get("cache_on_device", False), labels_path=d.get("labels_path"), pseudo=pseudo,
    )


def build_module(cfg: DictConfig) -> LnraModule:
    net = instantiate(cfg.model.net)
    channels_last = cfg.model.channels_last
    module = LnraModule(net, lr=cfg.model.lr, channels_last=bool(channels_last))
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
        logger = instantiate(cfg.logger, save_dir=str(run_dir))
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", filename="best", monitor="val/auc_micro", mode="max",
        save_last=True, auto_insert_metric_name=False, enable_version_counter=False,
    )
    callbacks: list[pl.Callback] = [checkpoint]
    viz = cfg.get("viz")
    if viz and (viz.images or viz.video or viz.timelines):
        callbacks.append(instantiate(viz, run_dir=run_dir))
    kwargs.update(overrides)
    try:
        return pl.Trainer(**kwargs, logger=logger, callbacks=callbacks, default_root_dir=str(run_dir))
    except (ValueError, TypeError, pl.utilities.exceptions.MisconfigurationException) as err:
        raise LnraError(f"invalid trainer settings: {err}") from None
