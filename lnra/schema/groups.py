"""The schema of every config group: one dataclass per group (or per option kind), registered in Hydra's
ConfigStore by :func:`lnra.schema.register_schemas` and named first in each YAML's defaults list
(``- /schema_dataset@_here_``), so the YAML is merged onto it.

Each field's annotation is the option's type (OmegaConf refuses ``seed=abc`` while composing); its
``rule`` (:mod:`lnra.schema.rules`) is the allowed range or set, checked by :mod:`lnra.schema.validate`
right after composition; its ``doc`` is the line ``--help`` and the README print.

The ``pseudo`` group's schemas are in :mod:`lnra.schema.pseudo_groups`; fields are declared with
:func:`lnra.schema.fields.opt`. Adding an option: add a field to its group's dataclass (with a rule
where the type alone does not bound it) and its value to the YAML files; ``python -m lnra.schema
--markdown --write README.md`` refreshes the README table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lnra.data.clip_shape import SPATIAL_FACTOR, TEMPORAL_FACTOR
from lnra.schema.fields import opt
from lnra.schema.pseudo_groups import (
    Cifar100SourceSchema,
    ImageFolderSourceSchema,
    PseudoSchema,
    TexturesSourceSchema,
    VideoSourceSchema,
)
from lnra.schema.rules import (
    AT_LEAST_ONE,
    NON_NEGATIVE,
    POSITIVE,
    PROBABILITY,
    SEED,
    Colormap,
    Either,
    FloatRange,
    IntRange,
    Items,
    Mapping,
    MultipleOf,
    NonEmpty,
    OneOf,
    Range,
)

TASKS = ("train", "test", "preview")
# Lightning's accepted `precision` values (lightning_fabric's _PRECISION_INPUT_STR, plus auto: lnra picks).
PRECISIONS = ("auto", "64-true", "64", "32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16", "16-true",
              "bf16-true", "transformer-engine", "transformer-engine-float16")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu", "hpu")
INT_OR_FRACTION = Either((IntRange(NON_NEGATIVE), FloatRange(PROBABILITY)))
INTERVAL = Either((IntRange(AT_LEAST_ONE), FloatRange(Range(0, 1, low_open=True))))
DEVICES = Either((IntRange(AT_LEAST_ONE), OneOf((-1, "auto")), Items(IntRange(NON_NEGATIVE))),
                 "a count >= 1, -1 (all), auto, or a list of device indices")


@dataclass
class CheckpointSchema:
    every_epoch: bool = opt(False, None, "also keep every epoch's weights (checkpoints/epoch_NNN.ckpt), to "
                            "re-score any epoch later")


@dataclass
class RootSchema:
    """The top-level options of ``conf/config.yaml``; the groups below are fields of their own schemas."""

    task: str = opt("train", OneOf(TASKS), "train: fit, then test the last epoch; test: score ckpt_path; "
                    "preview: pictures of the pseudo anomalies")
    seed: int = opt(0, SEED, "seeds Python, NumPy, torch and the data-loader workers")
    ckpt_path: str | None = opt(None, None, "task=test: the checkpoint to score; task=train: one to "
                                "continue from (last: the newest interrupted run)",
                                allowed="an existing file, or last; required by task=test")
    resume: Any = opt(False, None, "true: continue the newest interrupted run of run_name; a run "
                      "directory: continue that run", allowed="true | false | an existing run directory")
    run_name: str = opt("${dataset.name}_${pseudo.name}", NonEmpty(no_slash=True),
                        "the run directory's name after its time stamp")
    checkpoint: Any = opt(None, Mapping("checkpoint settings"), "checkpoints beyond last.ckpt and best.ckpt",
                          schema=CheckpointSchema)


@dataclass
class PathsSchema:
    root_dir: str = opt("${oc.env:LNRA_ROOT,.}", NonEmpty(), "the project folder (set by run.py)")
    data_dir: str = opt("${paths.root_dir}/data", NonEmpty(), "holds <dataset>/{training,testing}/frames")
    generated_dir: str = opt("${paths.root_dir}/data", NonEmpty(), "the synthetic dataset is generated here")
    cache_dir: str = opt("${paths.root_dir}/data/cache", NonEmpty(), "decoded-frame caches")
    output_dir: str = opt("${paths.root_dir}/outputs", NonEmpty(), "run directories",
                          allowed="a folder where directories can be created")
    intruder_dir: str = opt("${paths.data_dir}/intruders", NonEmpty(),
                            "images pasted as patch pseudo anomalies")


@dataclass
class GenerateSchema:
    """How the synthetic dataset is generated (``dataset.generate``; null for recorded datasets)."""

    seed: int = opt(0, SEED, "the generator's seed")
    size: int = opt(64, MultipleOf(SPATIAL_FACTOR, 64), "side of the generated frames, in pixels")
    train_videos: int = opt(6, AT_LEAST_ONE, "training videos")
    test_videos: int = opt(4, AT_LEAST_ONE, "test videos")
    frames_per_video: int = opt(64, AT_LEAST_ONE, "frames of each video",
                                allowed=">= dataset.clip_len")


@dataclass
class DatasetSchema:
    _target_: str = opt("lnra.loading.datamodule.VideoDataModule", NonEmpty(),
                        "the LightningDataModule class")
    name: str = opt("synthetic", NonEmpty(no_slash=True), "the dataset's name (labels file, run name)")
    root: str = opt("${paths.data_dir}/${dataset.name}", NonEmpty(), "the dataset folder")
    height: int = opt(256, MultipleOf(SPATIAL_FACTOR, 256), "frame height after resizing, in pixels")
    width: int = opt(256, MultipleOf(SPATIAL_FACTOR, 256), "frame width after resizing, in pixels")
    clip_len: int = opt(16, MultipleOf(TEMPORAL_FACTOR, 16), "frames per clip")
    cache_dir: str = opt("${paths.cache_dir}", NonEmpty(), "decoded-frame caches (follows paths.cache_dir)")
    batch_size: int = opt(4, AT_LEAST_ONE, "training clips per batch")
    eval_batch_size: int = opt(16, AT_LEAST_ONE, "clips per batch when scoring")
    num_workers: int = opt(0, NON_NEGATIVE, "data-loader worker processes")
    pin_memory: bool = opt(False, None, "pinned host memory for the loaders")
    cache_on_device: Any = opt(False, OneOf((True, False, "auto")),
                               "keep the decoded frame cache on the GPU (auto: when it fits)")
    labels_path: str | None = opt(None, None, "frame labels (.npy); null: frame_labels_<name>.npy")
    max_epochs: int = opt(60, AT_LEAST_ONE, "training epochs (trainer.max_epochs follows it)")
    generate: Any = opt(None, Mapping("generate settings"), "synthetic datasets only: how to generate it",
                        schema=GenerateSchema)


@dataclass
class NetSchema:
    """The 3D-conv autoencoder (docs/method.md §2); its clip shape follows the dataset."""

    _target_: str = opt("lnra.method.model.Autoencoder3D", NonEmpty(), "the network class")
    in_channels: int = opt(1, AT_LEAST_ONE, "input channels (1: grey frames)")
    widths: list[int] = opt([96, 128, 256, 256], Items(AT_LEAST_ONE, length=4),
                            "channels of the four encoder stages")
    frames: int = opt("${dataset.clip_len}", AT_LEAST_ONE, "clip length (follows dataset.clip_len)")
    height: int = opt("${dataset.height}", AT_LEAST_ONE, "frame height (follows dataset.height)")
    width: int = opt("${dataset.width}", AT_LEAST_ONE, "frame width (follows dataset.width)")


@dataclass
class ModelSchema:
    _target_: str = opt("lnra.method.module.LnraModule", NonEmpty(), "the LightningModule class")
    net: NetSchema = opt(NetSchema(), None, "the autoencoder")
    lr: float = opt(1e-4, POSITIVE, "Adam's learning rate")
    channels_last: bool = opt(True, None, "channels-last 3D memory format")
    compile: bool = opt(False, None, "torch.compile the autoencoder")


@dataclass
class TrainerSchema:
    """The ``pytorch_lightning.Trainer`` arguments lnra's configs use or users commonly set; any other
    Trainer argument can be added with ``+trainer.NAME=VALUE`` and goes to Lightning unchecked."""

    accelerator: str = opt("auto", OneOf(ACCELERATORS), "the device kind")
    devices: Any = opt(1, DEVICES, "devices per node: a count, -1 (all), auto, or a list of indices")
    num_nodes: int = opt(1, AT_LEAST_ONE, "machines")
    strategy: str = opt("auto", NonEmpty(), "Lightning's strategy (auto, ddp, ...)")
    precision: str = opt("auto", OneOf(PRECISIONS), "numeric precision (auto: bf16 mixed where native)")
    max_epochs: int = opt("${dataset.max_epochs}", Either((AT_LEAST_ONE, OneOf((-1,)))),
                          "training epochs (-1: no limit)")
    min_epochs: int | None = opt(None, NON_NEGATIVE, "epochs before early stopping may stop")
    max_steps: int = opt(-1, Range(-1), "optimiser steps (-1: no limit)")
    limit_train_batches: int | float | None = opt(None, INT_OR_FRACTION,
                                                  "training batches per epoch: a count or a fraction")
    limit_val_batches: int | float | None = opt(None, INT_OR_FRACTION,
                                                "validation batches: the AUC needs all (1.0)")
    limit_test_batches: int | float | None = opt(None, INT_OR_FRACTION,
                                                 "test batches: the AUC needs all (1.0)")
    overfit_batches: int | float = opt(0.0, INT_OR_FRACTION, "train and validate on these batches")
    val_check_interval: int | float | None = opt(None, INTERVAL,
                                                 "validate every N batches or fraction of an epoch")
    check_val_every_n_epoch: int | None = opt(1, AT_LEAST_ONE, "validate every N epochs")
    num_sanity_val_steps: int = opt(0, Range(-1), "validation batches before training (-1: all)")
    log_every_n_steps: int = opt(10, AT_LEAST_ONE, "logging interval in steps")
    accumulate_grad_batches: int = opt(1, AT_LEAST_ONE, "batches per optimiser step")
    gradient_clip_val: float | None = opt(None, NON_NEGATIVE, "clip gradients at this norm or value")
    deterministic: Any = opt(False, OneOf((True, False, "warn")), "deterministic algorithms only")
    benchmark: bool | None = opt(None, None, "cuDNN autotuning")
    fast_dev_run: bool | int = opt(False, Either((OneOf((True, False)), IntRange(NON_NEGATIVE))),
                                         "run N batches of each loop once (true: 1) as a smoke test")
    enable_progress_bar: bool = opt(True, None, "Lightning's progress bar")
    enable_model_summary: bool | None = opt(None, None, "print the model summary")
    inference_mode: bool = opt(True, None, "torch.inference_mode for evaluation")
    detect_anomaly: bool = opt(False, None, "autograd anomaly detection (slow)")


@dataclass
class CsvLoggerSchema:
    _target_: str = opt("pytorch_lightning.loggers.CSVLogger", NonEmpty(), "the logger class")
    name: str = opt("csv", NonEmpty(no_slash=True), "its folder in the run directory")
    version: str = opt("", None, "its sub-folder (empty: none)")


@dataclass
class TensorBoardLoggerSchema(CsvLoggerSchema):
    """The CSV logger's folder options, for another class and folder, plus its placeholder metric."""

    _target_: str = opt("pytorch_lightning.loggers.TensorBoardLogger", NonEmpty(), "the logger class")
    name: str = opt("tensorboard", NonEmpty(no_slash=True), "its folder in the run directory")
    default_hp_metric: bool = opt(False, None, "log a placeholder hp_metric")


@dataclass
class VizSchema:
    _target_: str = opt("lnra.callbacks.viz.ResultVisualizer", NonEmpty(), "the visualiser class")
    images: bool = opt(False, None, "per test window: input | reconstruction | error map PNGs")
    video: bool = opt(False, None, "per test video: an MP4 with the three panels and the score curve")
    timelines: bool = opt(True, None, "per test video: score vs frame, ground truth shaded")
    fps: int = opt(10, AT_LEAST_ONE, "frames per second of the demo videos")
    error_max: float = opt(0.5, POSITIVE, "the error (in [-1, 1] units) that gets the top colour")
    colormap: str = opt("inferno", Colormap(), "colours of the error maps")
    min_panel: int = opt(192, AT_LEAST_ONE, "small frames are enlarged to at least this many pixels")
    localisation: bool = opt(False, None, "a 4th panel: the error heat map over the frame and the "
                             "ground-truth outline (needs pixel masks)")


@dataclass
class LocalisationSchema:
    """Pixel-level localisation metrics, computed when the dataset has pixel masks."""

    _target_: str = opt("lnra.callbacks.localisation.LocalisationMetrics", NonEmpty(), "the metrics callback")
    enabled: bool = opt(True, None, "compute them when masks exist")
    validation: bool = opt(False, None, "also after every validation epoch")
    sigma: float = opt(0.0, NON_NEGATIVE, "Gaussian smoothing of the error maps, in mask pixels")
    bins: int = opt(1000, Range(2), "thresholds of the streamed ROCs (at least 2)")
    min_fraction: float = opt(0.4, PROBABILITY, "UCSD criterion: share of a frame's anomalous pixels "
                              "that must be flagged")


@dataclass
class MonitorSchema:
    """TensorBoard views refreshed at every validation epoch (monitor=none: off)."""

    windows: int = opt(6, NON_NEGATIVE, "fixed test windows shown (input | reconstruction | error)")
    pseudo_clips: int = opt(4, NON_NEGATIVE, "fixed pseudo-anomalous training clips shown")
    timelines: int = opt(16, NON_NEGATIVE, "score timelines of at most this many test videos")
    histograms: bool = opt(True, None, "anomaly scores of normal vs anomalous frames")
    hparams: bool = opt(True, None, "the run's settings and last/best AUC in the HParams table")
    health: bool = opt(True, None, "learning rate and peak GPU memory (speeds: callbacks.throughput)")
    error_max: float = opt(0.5, POSITIVE, "the error (in [-1, 1] units) that gets the top colour")
    colormap: str = opt("inferno", Colormap(), "colours of the error maps")
    localisation: bool = opt(False, None, "a 4th panel: error heat map over the frame, ground-truth outline")


# ConfigStore name -> (schema, where its options live in the composed config, for the docs).
SCHEMAS: dict[str, tuple[type, str]] = {
    "schema_root": (RootSchema, ""),
    "schema_paths": (PathsSchema, "paths"),
    "schema_dataset": (DatasetSchema, "dataset"),
    "schema_pseudo": (PseudoSchema, "pseudo"),
    "schema_source_cifar100": (Cifar100SourceSchema, "pseudo.source (cifar100)"),
    "schema_source_image_folder": (ImageFolderSourceSchema, "pseudo.source (image_folder)"),
    "schema_source_textures": (TexturesSourceSchema, "pseudo.source (textures)"),
    "schema_source_video": (VideoSourceSchema, "pseudo.source (video)"),
    "schema_model": (ModelSchema, "model"),
    "schema_trainer": (TrainerSchema, "trainer"),
    "schema_logger_tensorboard": (TensorBoardLoggerSchema, "logger (tensorboard)"),
    "schema_logger_csv": (CsvLoggerSchema, "logger (csv)"),
    "schema_viz": (VizSchema, "viz"),
    "schema_localisation": (LocalisationSchema, "localisation"),
    "schema_monitor": (MonitorSchema, "monitor"),
}
