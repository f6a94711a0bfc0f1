"""Checks on how a run is launched, made before any data is read or any weight trained."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from lnra.errors import LnraError


def check_launch(cfg: DictConfig) -> None:
    """Refuse a multi-device trainer inside a sweep.

    Lightning's DDP starts its other ranks by re-running the command line, which for ``-m`` is the
    whole sweep again; a sweep therefore runs one device per job (``hydra/launcher=ray`` gives
    every job its own GPU) and ``trainer=ddp`` is for single runs.
    """
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    devices = cfg.trainer.get("devices", 1)
    one = devices == 1 or (OmegaConf.is_list(devices) and len(devices) == 1)
    if not one:
        raise LnraError(
            f"a sweep (-m) runs each job on one device, but the trainer asks for devices={devices}; "
            "drop trainer=ddp (or set trainer.devices=1) and add hydra/launcher=ray to run the "
            "jobs in parallel, one GPU each"
        )
