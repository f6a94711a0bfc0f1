"""The Trainer of every run: Lightning's, declaring only the arguments it narrows (``max_epochs=0`` would
score an untrained model) or whose refusal Lightning words poorly; ``None`` leaves it Lightning's default."""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Annotated, Any, Literal

import pytorch_lightning as pl
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.connector import _PRECISION_INPUT
from lightning_fabric.utilities.cloud_io import get_filesystem
from omegaconf import OmegaConf
from pydantic import Field
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO

from lnra.config.options import Mistake, import_target
from lnra.config.types import Count, NonNegative
from lnra.diskio import atomic_torch_save

log = logging.getLogger(__name__)


def cpu_supports_bf16() -> bool:
    """True where oneDNN has native bf16 kernels (AVX-512 BF16 or AMX); elsewhere bf16 is emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: Any, accelerator: Any) -> Any:
    """``auto`` → bf16 mixed precision where the device runs it natively, else fp32 (said once)."""
    if str(precision) != "auto":
        return precision
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if cpu_supports_bf16():
        return "bf16-mixed"
    log.info("this CPU has no native bf16 support: training in fp32")
    return "32-true"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Local checkpoints written beside their destination and renamed over it: Lightning's temporary file is
    often on another filesystem, where the final move is a copy that a kill truncates."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)  # Lightning's refuses storage_options
        else:
            atomic_torch_save(checkpoint, path)


class Trainer(pl.Trainer):
    """``pytorch_lightning.Trainer`` that writes checkpoints atomically, prints progress lines instead of a
    bar when the console is not a terminal, and leaves no checkpoint after a smoke test."""

    def __init__(
        self,
        *,
        precision: Annotated[Literal["auto"] | _PRECISION_INPUT | None, Field(
            description="numeric precision; auto: bf16 mixed where the device runs it natively, else fp32")]
        = "auto",
        devices: Annotated[Count | Literal[-1, "auto"] | list[NonNegative] | None, Field(description=(
            "devices per node: a count >= 1, -1 (all), auto, or a list of device indices"))] = None,
        max_epochs: Annotated[Count | Literal[-1] | None, Field(description="training epochs (-1: no limit)")]
        = None,
        min_epochs: Annotated[NonNegative | None, Field(description="epochs before early stopping may stop")]
        = None,
        val_check_interval: Annotated[Count | Annotated[float, Field(gt=0, le=1)] | None, Field(
            description="validate every N batches, or this fraction of an epoch")] = None,
        check_val_every_n_epoch: Annotated[Count | None, Field(description="validate every N epochs")] = None,
        num_sanity_val_steps: Annotated[Annotated[int, Field(ge=-1)] | None, Field(
            description="validation batches before training (-1: all)")] = None,
        log_every_n_steps: Annotated[Count | None, Field(description="logging interval in steps")] = None,
        accumulate_grad_batches: Annotated[Count | None, Field(description="batches per optimiser step")]
        = None,
        gradient_clip_val: Annotated[Annotated[float, Field(ge=0)] | None, Field(
            description="clip gradients at this norm or value")] = None,
        **kwargs: Any,
    ) -> None:
        given = {k: v for k, v in locals().items()
                 if k not in ("self", "kwargs", "__class__") and v is not None}
        kwargs.update(given, precision=resolve_precision(precision, kwargs.get("accelerator", "auto")))
        if kwargs.get("fast_dev_run"):  # no last.ckpt, which resume=true would take for an interrupted run
            callbacks = kwargs.get("callbacks") or []
            kwargs["callbacks"] = [c for c in callbacks if not isinstance(c, ModelCheckpoint)]
            kwargs["enable_checkpointing"] = False
        if not sys.stdout.isatty():  # a bar in a log file is a flood of carriage returns: progress lines
            kwargs["enable_progress_bar"] = False
        kwargs.setdefault("plugins", [AtomicCheckpointIO()])
        super().__init__(**kwargs)


def _refusal(target: Any, values: dict[str, Any]) -> str | None:
    """Lightning's reason (first line) for refusing these arguments, or None; the trial says nothing else."""
    with warnings.catch_warnings(action="ignore"):
        logging.disable(logging.WARNING)
        try:
            target(**values, logger=False, callbacks=[], enable_checkpointing=False)
        except Exception as err:  # noqa: BLE001 - any refusal is reported as the argument's problem
            return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        finally:
            logging.disable(logging.NOTSET)
    return None


def argument_mistakes(node: Any, checked_keys: set[str]) -> list[Mistake]:
    """Lightning's own refusals of the trainer's arguments not in ``checked_keys``: a Trainer is built (a few
    milliseconds) and, only if it refuses, once per argument to say which ones."""
    try:
        target = import_target(node._target_)
    except (ValueError, AttributeError):
        return []  # no trainer, or no class to build it: reported by the config check
    values = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items()
              if not k.startswith("_") and f"trainer.{k}" not in checked_keys}
    if _refusal(target, values) is None:
        return []
    return [Mistake(f"trainer.{key}", value, problem) for key, value in values.items()
            for problem in [_refusal(target, {key: value})] if problem]
