"""The tasks ``run.py`` can run: ``train`` (fit, then test the last epoch) and ``test`` (a checkpoint)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from lnra.callbacks.localisation import pixel_results
from lnra.callbacks.preview import PNG_NAME, preview_image
from lnra.errors import LnraError
from lnra.run.builders import RunObjects, build_datamodule, build_pseudo, build_run
from lnra.run.checkpoints import load_checkpoint
from lnra.run.console import describe_run
from lnra.run.inputs import check_inputs
from lnra.run.results import write_results
from lnra.run.resume import check_checkpoint, checkpoint_to_resume
from lnra.run.summary import write_summary
from lnra.run.sweep_resume import finished_cell

log = logging.getLogger(__name__)


def _finish(cfg: DictConfig, run_dir: Path, run: RunObjects, extra: dict) -> float:
    """Test, write the results files and print the headline number."""
    trainer, module, datamodule = run.trainer, run.module, run.datamodule
    trainer.test(module, datamodule=datamodule, verbose=False)
    evaluation = module.last_evaluation
    if evaluation is None:  # trainer.fast_dev_run scored one batch of each loop
        log.info("fast_dev_run: one batch of each loop ran; the AUC needs every test window, so it is "
                 "skipped and no results are written")
        return math.nan
    pixel = pixel_results(trainer)
    if trainer.is_global_zero:
        meta = {"dataset": cfg.dataset.name, "pseudo": cfg.pseudo.name, "seed": cfg.seed,
                "epoch": trainer.current_epoch - 1 if cfg.task == "train" else extra.get("epoch"),
                "height": cfg.dataset.height, "width": cfg.dataset.width, **extra, **pixel}
        write_results(run_dir, evaluation, meta, module.history)
        write_summary(run_dir, cfg, trainer, evaluation, module.history)
        print(f"AUC: {100 * evaluation.auc_micro:.2f}%  (macro {100 * evaluation.auc_macro:.2f}%, "
              f"without per-video normalisation {100 * evaluation.auc_micro_global:.2f}%)")
        if pixel["pixel_auroc"] is not None:
            print(f"pixel AUROC: {100 * pixel['pixel_auroc']:.2f}%  (UCSD pixel-level AUC "
                  f"{100 * pixel['pixel_ucsd_auc']:.2f}%, EER {100 * pixel['pixel_ucsd_eer']:.2f}%)")
        print(f"run directory: {run_dir}")
    return evaluation.auc_micro


def train(cfg: DictConfig, run_dir: Path) -> float:
    done = finished_cell(cfg, run_dir)
    if done is not None:  # a resumed sweep's job that finished before
        return done
    check_inputs(cfg, training=True)
    ckpt = checkpoint_to_resume(cfg, run_dir)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    run = build_run(cfg, run_dir)
    if ckpt is not None:
        check_checkpoint(ckpt, run.module)
    log.info(describe_run(cfg, run.trainer, run_dir))
    if run.trainer.logger is not None:
        run.trainer.logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    run.trainer.fit(run.module, datamodule=run.datamodule, ckpt_path=ckpt)
    return _finish(cfg, run_dir, run, {})


def test(cfg: DictConfig, run_dir: Path) -> float:
    ckpt = cfg.get("ckpt_path")
    if not ckpt:
        raise LnraError("task=test needs a checkpoint: add ckpt_path=PATH (lnra .ckpt or the paper's .pth)")
    check_inputs(cfg, training=False)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    run = build_run(cfg, run_dir, training=False, **({} if _precision_given() else {"precision": "32-true"}))
    epoch = load_checkpoint(run.module, Path(ckpt))
    log.info(describe_run(cfg, run.trainer, run_dir))
    return _finish(cfg, run_dir, run, {"epoch": epoch, "ckpt_path": str(ckpt)})


def _precision_given() -> bool:
    """Whether the command line sets ``trainer.precision``. Otherwise ``task=test`` scores in fp32
    whatever the trainer profile's default: a released checkpoint must give its published AUC, and
    reduced precision moves the PSNRs that AUC is computed from."""
    if not HydraConfig.initialized():
        return False
    return any(o.lstrip("+~").startswith("trainer.precision=") for o in HydraConfig.get().overrides.task)


def preview(cfg: DictConfig, run_dir: Path) -> Path:
    """``task=preview``: write the grid of the chosen ``pseudo`` variant to ``<run dir>/{PNG_NAME}``."""
    datamodule = build_datamodule(cfg, build_pseudo(cfg))
    path = Path(run_dir) / PNG_NAME
    Image.fromarray(preview_image(datamodule, seed=cfg.seed)).save(path)
    print(f"preview of pseudo={cfg.pseudo.name} ({', '.join(datamodule.pseudo.kind_names[2:]) or 'no patch'}"
          f"{', skip_frame' if datamodule.pseudo.needs_skip_clips else ''}): {path}")
    return path


TASKS: dict[str, Callable[[DictConfig, Path], object]] = {"train": train, "test": test, "preview": preview}


def run_task(cfg: DictConfig, run_dir: Path) -> object:
    if cfg.task not in TASKS:
        raise LnraError(f"unknown task '{cfg.task}'; choose one of {', '.join(sorted(TASKS))}")
    return TASKS[cfg.task](cfg, Path(run_dir))
