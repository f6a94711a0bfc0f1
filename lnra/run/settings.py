"""The options of a run that are no class's parameters, as a pydantic model (every composition's start),
and the relations between options only the run can check. Free of torch: ``--help`` composes with it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Annotated, Any, Literal

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lnra.config.options import Mistake, effective_options, import_target, select
from lnra.config.types import FolderName, NonEmpty, Seed
from lnra.diskio import creatable, read_problem
from lnra.pseudo.kinds import Technique, probability_sum_problem
from lnra.pseudo.skip import SkipFrame
from lnra.run.ray_share import cpus_per_gpu
from lnra.run.rundir import choose_sweep_dir, config_subdir, resume_folder, resume_problem, run_dir

TASKS = ("train", "test", "preview")


def _object_or_null(value: Any) -> Any:
    """an entry with a _target_ (the class to build), or null to leave it out"""
    if value is not None and not (isinstance(value, dict) and "_target_" in value):
        raise ValueError("needs a _target_ (the class to build, e.g. pytorch_lightning.callbacks."
                         "EarlyStopping), or null to leave it out")
    return value


Entry = Annotated[Any, AfterValidator(_object_or_null)]


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PathSettings(Settings):
    """Every path a run reads or writes comes from here, so nothing depends on the working directory."""

    root_dir: NonEmpty = Field("${oc.env:LNRA_ROOT,.}", description="the project folder (set by run.py)")
    data_dir: NonEmpty = Field("${oc.env:LNRA_DATA_DIR,${paths.root_dir}/data}",
                               description="holds <dataset>/{training,testing}/frames (env LNRA_DATA_DIR)")
    generated_dir: NonEmpty = Field("${paths.root_dir}/data",
                                    description="the synthetic dataset is generated here")
    cache_dir: NonEmpty = Field("${paths.root_dir}/data/cache",
                                description="decoded-frame caches (memory-mapped uint8)")
    output_dir: NonEmpty = Field("${paths.root_dir}/outputs", description="run and sweep directories")
    intruder_dir: NonEmpty = Field("${paths.data_dir}/intruders",
                                   description="images pasted as patch pseudo anomalies")


class PseudoSettings(Settings):
    """A pseudo-anomaly variant (``conf/pseudo/``): skipped frames and patch techniques, each with its p."""

    name: FolderName = Field("none", description="the variant's name (run name, results)")
    skip: SkipFrame | None = Field(None, description="skip-frame pseudo anomalies {p, jump}, or null")
    technique: Technique | None = Field(None, description="the blend of a patch variant (its entry reads "
                                        "${pseudo.technique})")
    patches: list[Entry] = Field([], description="patch pseudo anomalies, each with its p")
    source: Entry = Field(None, description="the intruders of the patches (pseudo/source=cifar100|"
                          "image_folder|textures|video)")


class RunSettings(Settings):
    """The top level of ``conf/config.yaml``; its class entries are checked against their own signatures."""

    task: Literal[TASKS] = Field("train", description="train: fit, then score the final weights; test: score "
                                 "ckpt_path; preview: pictures of the pseudo anomalies")
    seed: Seed = Field(0, description="seeds Python, NumPy, torch and the data-loader workers")
    ckpt_path: str | None = Field(None, description="task=test: the checkpoint to score; task=train: one to "
                                  "start from (last: the newest interrupted run)")
    resume: bool | str = Field(False, description="true: continue the newest interrupted run of run_name; a "
                               "run directory: continue that run")
    run_name: FolderName = Field("${dataset.name}_${pseudo.name}",
                                 description="the run directory's name after its time stamp")
    paths: PathSettings = PathSettings()
    pseudo: PseudoSettings = PseudoSettings()
    dataset: Entry = Field(None, description="the LightningDataModule (conf/dataset/)")
    model: Entry = Field(None, description="the LightningModule and its net (conf/model/)")
    loss: Entry = Field(None, description="the training loss (conf/loss/)")
    trainer: Entry = Field(None, description="the Trainer (conf/trainer/)")
    logger: Entry = Field(None, description="the experiment logger, or null (conf/logger/)")
    callbacks: dict[str, Entry] = Field({}, description="every side output, one entry each")


# -- relations between options ------------------------------------------------------------------------------
def _continued_from(cfg: DictConfig) -> Iterator[Mistake]:
    ckpt = select(cfg, "ckpt_path")
    if select(cfg, "task") == "test" and not ckpt:
        yield Mistake("ckpt_path", ckpt, "task=test needs a checkpoint: add ckpt_path=PATH (lnra .ckpt or "
                      "the paper's .pth)")
    elif isinstance(ckpt, str) and ckpt != "last" and (problem := read_problem(ckpt, "file")):
        hint = " (give a file, or last)" if problem.startswith("not found") else ""
        yield Mistake("ckpt_path", ckpt, f"checkpoint {problem}{hint}")
    if (folder := resume_folder(select(cfg, "resume"))) is not None and (problem := resume_problem(folder)):
        hint = " (true: the newest interrupted run)" if problem == "run directory not found" else ""
        yield Mistake("resume", str(folder), problem + hint)


def _probabilities(cfg: DictConfig) -> Iterator[Mistake]:
    """Each training sample gets at most one pseudo-anomaly type (docs/method.md §3)."""
    skip, patches = select(cfg, "pseudo.skip"), select(cfg, "pseudo.patches") or []
    keys = (["pseudo.skip.p"] if skip else []) + [f"pseudo.patches.{i}.p" for i in range(len(patches))]
    ps = ([skip.get("p", SkipFrame.p)] if isinstance(skip, dict) else []) + \
        [patch.get("p") for patch in patches if isinstance(patch, dict)]
    valid = len(ps) == len(keys) and all(isinstance(p, int | float) and 0 <= p <= 1 for p in ps)
    if valid and (problem := probability_sum_problem(ps)):
        yield Mistake("+".join(keys), f"{sum(ps):.3f}", problem)


def _generated_length(cfg: DictConfig) -> Iterator[Mistake]:
    frames = select(cfg, "dataset.generate.frames_per_video")
    clip_len = select(cfg, "dataset.clip_len") or 16
    if isinstance(frames, int) and isinstance(clip_len, int) and 0 < frames < clip_len:
        yield Mistake("dataset.generate.frames_per_video", frames,
                      f"must be at least dataset.clip_len={clip_len} (a video must hold one clip)")


def _whole_test_set(cfg: DictConfig) -> Iterator[Mistake]:
    """The AUC is defined over every test window: options that score part of it are refused up front."""
    for option in ("limit_val_batches", "limit_test_batches", "overfit_batches"):
        value = select(cfg, f"trainer.{option}")
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue  # none, or of the wrong type (reported with the trainer's arguments)
        everything = value == 0 if option == "overfit_batches" else isinstance(value, float) and value == 1.0
        if not everything:
            yield Mistake(f"trainer.{option}", value, "would score only part of the test set, but the AUC is "
                          f"defined over every test window; remove trainer.{option} (validate less often "
                          "with trainer.check_val_every_n_epoch=N; smoke-test with "
                          "trainer.fast_dev_run=true)")


def _origin(cfg: DictConfig, key: str) -> str:
    """The option a path comes from (``dataset.cache_dir`` from ``paths.cache_dir``): the one to change."""
    parent, _, name = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    raw = OmegaConf.to_container(node, resolve=False).get(name) if isinstance(node, DictConfig) else None
    found = re.fullmatch(r"\$\{([\w.]+)\}(/.*)?", str(raw))
    return _origin(cfg, found.group(1)) if found else key


def _written_folders(cfg: DictConfig) -> Iterator[Mistake]:
    """Every folder a run writes can be created; each problem said once, by the option it comes from."""
    written = ["paths.output_dir", "dataset.cache_dir"]
    root = select(cfg, "dataset.root")
    generated = select(cfg, "dataset.generate") is not None and isinstance(root, str)
    if generated and not any(Path(root).glob("*")):  # missing or empty: the data is generated into it
        written.append("dataset.root")
    problems = dict.fromkeys((_origin(cfg, key), creatable(folder)) for key in written
                             if isinstance(folder := select(cfg, key), str) and folder)
    yield from (Mistake(origin, select(cfg, origin), problem) for origin, problem in problems if problem)


def _logger_folder(cfg: DictConfig) -> Iterator[Mistake]:
    """The logger writes into ``<run dir>/<name>``: one folder of the run directory."""
    name = select(cfg, "logger.name")
    if isinstance(name, str) and (not name.strip() or "/" in name or "\\" in name):
        yield Mistake("logger.name", name, "must be a non-empty name without '/' (its folder in the run "
                      "directory)")


def _loss_needs_pseudo(cfg: DictConfig) -> Iterator[Mistake]:
    """A loss that is defined by its pseudo anomalies (STEAL Net's) cannot train without one."""
    target = select(cfg, "loss._target_")
    if not target or not getattr(import_target(target), "needs_pseudo_anomalies", False):
        return
    skip, patches = select(cfg, "pseudo.skip"), select(cfg, "pseudo.patches") or []
    ps = ([SkipFrame(**skip).p] if skip is not None else []) + [effective_options(p)["p"] for p in patches]
    if not any(p > 0 for p in ps):
        yield Mistake("loss", target.rsplit(".", 1)[-1], "needs pseudo anomalies, but pseudo="
                      f"{select(cfg, 'pseudo.name')} has none with p > 0: add one (pseudo=skip_frame, or "
                      "experiment=steal for its published setting)")


RELATIONS = (_continued_from, _probabilities, _generated_length, _whole_test_set, _written_folders,
             _logger_folder, _loss_needs_pseudo)


def register() -> None:
    """The run's settings as every composition's start, and lnra's resolvers; called on ``import lnra``."""
    entries = {"dataset", "model", "loss", "trainer", "logger"}  # their defaults come from YAML
    ConfigStore.instance().store(name="lnra_settings", node=RunSettings().model_dump(exclude=entries))
    # the --help reference is imported when asked for: `python -m lnra.config.reference` imports lnra first
    resolvers = (("lnra_run_dir", run_dir, True), ("lnra_sweep_dir", choose_sweep_dir, True),
                 ("lnra_config_subdir", config_subdir, True), ("lnra_cpus_per_gpu", cpus_per_gpu, False),
                 ("lnra_options_help", lambda: import_module("lnra.config.reference").help_text(), False))
    for name, resolver, cached in resolvers:
        OmegaConf.register_new_resolver(name, resolver, use_cache=cached, replace=True)
