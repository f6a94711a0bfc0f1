"""The tasks ``run.py`` runs (``train``, ``test`` a checkpoint, ``preview`` the pseudo anomalies) and the one
check before them: every mistake and every missing input at once, each with the command that gets it."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from lnra.callbacks.monitor import PNG_NAME, preview_batch, render_grid
from lnra.config.options import config_mistakes, effective_options
from lnra.data.download import NO_DIRECT_LINK, RELEASES
from lnra.data.frames import list_videos
from lnra.data.labels import find_label_file, load_labels
from lnra.diskio import read_problem, unreadable
from lnra.errors import LnraError, refuse
from lnra.run.allocator import keep_freed_memory
from lnra.run.builders import RunObjects, build_datamodule, build_module, build_run
from lnra.run.checkpoints import load_checkpoint
from lnra.run.console import describe_run
from lnra.run.results import logged, write_results, write_summary
from lnra.run.rundir import checkpoint_to_load, checkpoint_to_resume, finished_cell, in_sweep
from lnra.run.settings import RELATIONS, RunSettings
from lnra.run.trainer import argument_mistakes

log = logging.getLogger(__name__)


def _missing(what: str, fix: str) -> str:
    return f"{what}; get it with: {fix}" if fix else what


def dataset_command(name: str, root: Path) -> str:
    """The command that writes ``root`` (``<out>/<name>``) for a dataset lnra knows how to prepare."""
    out = root.parent
    where = "" if root.name == name else f" and set dataset.root={out / name}"
    if name in RELEASES:
        return f"python -m lnra.data.prepare {name} --download --out {out}{where}"
    if name in NO_DIRECT_LINK:
        return NO_DIRECT_LINK[name].format(out=out) + where
    return ""


def _split_missing(split_dir: Path, fix: str) -> str | None:
    """The split's own error (missing, unreadable or without videos), from a look at its top level only."""
    try:
        if read_problem(split_dir, "folder") or not any(p.is_dir() for p in split_dir.iterdir()):
            list_videos(split_dir)  # which says what is wrong, as the run would
    except LnraError as err:
        return _missing(str(err), fix)
    return None


def dataset_inputs(cfg: DictConfig, training: bool) -> list[str]:
    """Frame folders of the splits the task reads, and the test labels (found, read, one per frame)."""
    d = cfg.dataset
    if d.get("generate") is not None or d.get("_target_") != "lnra.loading.datamodule.VideoDataModule":
        return []  # generated data; or a DataModule of another layout, which checks its own files
    root = Path(d.root)
    fix = dataset_command(d.name, root)
    test_split = _split_missing(root / "testing" / "frames", fix)
    train_split = _split_missing(root / "training" / "frames", fix) if training else None
    found = [m for m in (test_split, train_split) if m]
    if read_problem(root, "folder"):
        return found[:1]  # one line for a dataset that is not there at all
    try:
        labels = find_label_file(d.name, root, d.get("labels_path"))
        if test_split is None:
            load_labels(labels, list_videos(root / "testing" / "frames").lengths)
    except LnraError as err:
        found.append(_missing(str(err), fix if d.name in RELEASES else ""))
    return found


def _source_missing(source: DictConfig, cfg: DictConfig) -> str | None:
    """The intruder source's files, by the class it builds (textures need none)."""
    kind = str(source.get("_target_", "")).rsplit(".", 1)[-1]
    if kind == "Cifar100Source" and not source.get("download"):
        root = Path(source.root)
        train_file = root / "cifar-100-python" / "train"
        if (problem := read_problem(train_file, "file")) is None or not problem.startswith("not found"):
            return None if problem is None else f"CIFAR-100 file {train_file} {problem}"
        default_place = (root.parent.name, root.name) == ("intruders", "cifar100")
        fix = (f"python -m lnra.data.prepare cifar100 --download --out {root.parent.parent}" if default_place
               else "pseudo.source.download=true")
        return _missing(f"CIFAR-100 not found in {root}{problem.removeprefix('not found')}: expected "
                       f"torchvision's format {root}/cifar-100-python/{{train,test,meta}}", fix)
    if kind == "ImageFolderSource" and (problem := unreadable(source.root, "intruder folder", "folder")):
        return _missing(f"{problem} (an image folder <root>/<class>/<image>)",
                       NO_DIRECT_LINK["imagenet"].format(out=cfg.paths.data_dir))
    if kind == "VideoClipSource":
        root = Path(source.root)
        if problem := unreadable(root / "training" / "frames", "intruder videos", "folder"):
            return _missing(f"{problem} (the {source.name} training frames)",
                           dataset_command(str(source.name), root))
    return None


def missing_inputs(cfg: DictConfig, training: bool) -> list[str]:
    """Everything the task reads but the checkpoint, looked up in well under a second."""
    sources = [_source_missing(entry.source, cfg) for entry in cfg.pseudo.get("patches") or []
               if entry.get("source") is not None]  # a patch of its own making has no intruders
    gaps = dataset_inputs(cfg, training) + [m for m in dict.fromkeys(sources) if m is not None]
    if len(gaps) > 1:
        return [f"{len(gaps)} inputs of this run are missing: "
                + " ".join(f"({i}) {m}." for i, m in enumerate(gaps, start=1))]
    return gaps


def check(cfg: DictConfig, inputs: bool = True, sweep: bool = False) -> None:
    """Every mistake of a run's config and every input it lacks, one line each, before anything is built
    (Hydra's own node, present when run.py composes the config itself, left out)."""
    cfg = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    mistakes = config_mistakes(cfg, RunSettings, RELATIONS)
    lines = [str(m) for m in (*mistakes, *argument_mistakes(cfg.get("trainer"), {m.key for m in mistakes}))]
    devices = cfg.trainer.get("devices", 1) if cfg.get("trainer") else 1
    if (sweep or in_sweep()) and devices != 1 and not (OmegaConf.is_list(devices) and len(devices) == 1):
        lines.append(f"trainer.devices={devices}: a sweep (-m) runs each job on one device, but the trainer "
                     f"asks for devices={devices} (DDP would re-run the whole sweep in every rank); drop "
                     "trainer=ddp (or set trainer.devices=1) and add hydra/launcher=ray to run the jobs in "
                     "parallel, one GPU each")
    looked_up = ("task", "paths.", "dataset", "pseudo")  # what the inputs are found from
    if inputs and cfg.get("task") in ("train", "test"):
        if not cfg.get("resume") and not any(m.key.startswith(looked_up) for m in mistakes):
            lines += missing_inputs(cfg, training=cfg.task == "train")
        # the named checkpoint, read whole and loaded into the model, before anything is created
        if not mistakes and (ckpt := checkpoint_to_load(cfg)) is not None:
            try:
                module = build_module(cfg, build_datamodule(cfg, training=False))
                load_checkpoint(module, ckpt, resuming=cfg.task == "train")
            except LnraError as err:
                lines.append(str(err))
    refuse(lines)


def _finish(cfg: DictConfig, run_dir: Path, run: RunObjects, started: float, extra: dict) -> float:
    """Write the results files and print the headline number."""
    trainer, evaluation = run.trainer, run.module.evaluation
    if evaluation is None:  # trainer.fast_dev_run scored one batch of each loop
        log.info("fast_dev_run: one batch of each loop ran; the AUC needs every test window, so it is "
                 "skipped and no results are written")
        return math.nan
    values = logged(trainer, "test" if trainer.state.fn == "test" else "val")
    # the pixel-level metrics of the result's pass (None without masks) and the settings they depend on
    settings = effective_options((cfg.get("callbacks") or {}).get("localisation"))
    pixel = {key: values.get(key) for key in ("pixel_auroc", "pixel_ucsd_auc", "pixel_ucsd_eer")}
    pixel |= {f"pixel_{key}": settings[key] for key in ("sigma", "bins", "min_fraction") if key in settings}
    if trainer.is_global_zero:
        dm = run.datamodule  # the groups' options (loss=steal, model=memae) tell the method's family apart
        choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
        meta = {"dataset": dm.name, "pseudo": cfg.pseudo.name, "loss": choices.get("loss"),
                "model": choices.get("model"), "seed": cfg.seed,
                "epoch": trainer.current_epoch - 1,  # a test's comes with ``extra``
                "height": dm.height, "width": dm.width, **extra, **pixel,
                "train_clips_per_s": logged(trainer, "throughput").get("train_clips_per_s")}
        history = run.history.epochs or extra.pop("history", [])
        write_results(run_dir, evaluation, meta, history)
        write_summary(run_dir, cfg, trainer, dm, evaluation, history, started)
        print(f"AUC: {evaluation.auc_micro:.2%}  (macro {evaluation.auc_macro:.2%}, "
              f"without per-video normalisation {evaluation.auc_micro_global:.2%})")
        if pixel["pixel_auroc"] is not None:
            print(f"pixel AUROC: {pixel['pixel_auroc']:.2%}  (UCSD pixel-level AUC "
                  f"{pixel['pixel_ucsd_auc']:.2%}, EER {pixel['pixel_ucsd_eer']:.2%})")
        print(f"run directory: {run_dir}")
    return evaluation.auc_micro


def train(cfg: DictConfig, run_dir: Path) -> float:
    """Fit, then the result: a last validation of the final weights (at the test's precision) is it, logged
    as ``test/*`` too, instead of scoring the same windows again."""
    started = time.monotonic()
    if (done := finished_cell(cfg, run_dir)) is not None:  # a resumed sweep's job that finished before
        return done
    ckpt = checkpoint_to_resume(cfg, run_dir)
    run = build_run(cfg, run_dir)
    if ckpt is not None:
        load_checkpoint(run.module, ckpt, resuming=True)
    log.info(describe_run(cfg, run, run_dir))
    run.trainer.fit(run.module, datamodule=run.datamodule, ckpt_path=ckpt)
    trainer = run.trainer
    if run.module.closed_at_step != trainer.global_step or trainer.fast_dev_run:
        trainer.test(run.module, datamodule=run.datamodule, verbose=False)
    else:
        log.info("the last validation scored these final weights: it is the result (no second pass)")
        values = {f"test/{key}": value for key, value in logged(trainer, "val").items()
                  if key.startswith(("auc_micro", "auc_macro", "pixel_"))}
        for logger in trainer.loggers:
            logger.log_metrics(values, step=trainer.global_step)
            logger.save()
    return _finish(cfg, run_dir, run, started, {})


def test(cfg: DictConfig, run_dir: Path) -> float:
    """Score ``ckpt_path``. In fp32 unless the command line sets ``trainer.precision``: a released checkpoint
    must give its published AUC, and reduced precision moves the PSNRs that AUC is computed from."""
    started = time.monotonic()
    overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    given = any(o.lstrip("+~").startswith("trainer.precision=") for o in overrides)
    run = build_run(cfg, run_dir, training=False, **({} if given else {"precision": "32-true"}))
    weights = load_checkpoint(run.module, Path(cfg.ckpt_path))  # given and found: checked with the config
    log.info(describe_run(cfg, run, run_dir))
    run.trainer.test(run.module, datamodule=run.datamodule, verbose=False)
    return _finish(cfg, run_dir, run, started, {"epoch": weights.epoch, "ckpt_path": cfg.ckpt_path,
                                                "history": weights.history})


def preview(cfg: DictConfig, run_dir: Path) -> Path:
    """``task=preview``: write the grid of the chosen ``pseudo`` variant to ``<run dir>/{PNG_NAME}``."""
    datamodule = build_datamodule(cfg)
    path = Path(run_dir) / PNG_NAME
    Image.fromarray(render_grid(*preview_batch(datamodule, seed=cfg.seed))).save(path)
    kinds = [patch.name for patch in datamodule.pseudo.patches]
    print(f"preview of pseudo={cfg.pseudo.name} ({', '.join(kinds) or 'no patch'}"
          f"{', skip_frame' if datamodule.pseudo.needs_skip_clips else ''}): {path}")
    return path


TASKS: dict[str, Callable[[DictConfig, Path], object]] = {"train": train, "test": test, "preview": preview}


def run_task(cfg: DictConfig, run_dir: Path) -> object:
    keep_freed_memory()
    return TASKS[cfg.task](cfg, Path(run_dir))
