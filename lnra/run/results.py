"""What a finished run leaves (docs/guide.md, What a run leaves), from what the run hands forward (never by
looking callbacks up): ``results.json``, ``scores.csv``, ``summary.md`` and the HParams row's settings."""

from __future__ import annotations

import csv
import json
import math
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from lnra.callbacks.progress import duration
from lnra.diskio import atomic_path, explained_write_errors
from lnra.loading.datamodule import VideoDataModule
from lnra.method.scoring import Evaluation
from lnra.run.console import device_name

NOT_APPLICABLE = "-"


def logged(trainer: pl.Trainer, stage: str) -> dict[str, float]:
    return {k.split("/", 1)[1]: float(v) for k, v in trainer.callback_metrics.items()
            if k.startswith(f"{stage}/")}


def write_results(run_dir: Path, evaluation: Evaluation, meta: dict[str, Any],
                  history: list[dict[str, float]]) -> None:
    """Write ``scores.csv``, then ``results.json``, which marks a run as finished (a resumed sweep skips it):
    last and by rename, complete or not at all."""
    last = history[-1] if history else {}
    results = {**meta, "auc_micro": evaluation.auc_micro, "auc_macro": evaluation.auc_macro,
               "auc_micro_global": evaluation.auc_micro_global, "n_frames": evaluation.n_frames,
               "best_epoch": int(last["best_epoch"]) if "best_epoch" in last else None,
               "best_auc_micro": last.get("auc_best"), "history": history}
    path = run_dir / "results.json"
    with explained_write_errors(path, "results"):
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "scores.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["video", "frame", "psnr", "anomaly_score", "label"])
            for v, t, p, a, y in zip(evaluation.video_index, evaluation.frame_index, evaluation.psnr,
                                     evaluation.anomaly_score, evaluation.labels, strict=True):
                writer.writerow([evaluation.videos.names[v], int(t), f"{p:.6f}", f"{a:.6f}", int(y)])
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(results, indent=2, allow_nan=True))


# -- summary.md ---------------------------------------------------------------------------------------
def write_summary(run_dir: Path, cfg: DictConfig, trainer: pl.Trainer, dm: VideoDataModule,
                  evaluation: Evaluation, history: list[dict[str, float]], started: float) -> None:
    """Write ``run_dir/summary.md`` from the finished run (after its results files, which it links)."""
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else sys.argv[1:]
    command = " ".join(["python run.py", *(shlex.quote(o.removeprefix("++")) for o in overrides)])
    rows = [("Command", f"`{command}`"), ("Task", cfg.task),
            ("Dataset", f"{dm.name} at {dm.height}x{dm.width}, clips of {dm.clip_len} frames"),
            ("Variant (pseudo anomalies)", cfg.pseudo.name), ("Precision", str(trainer.precision)),
            ("Device", device_name(trainer)), ("Wall time", duration(time.monotonic() - started))]
    if cfg.task == "train":
        rows.insert(5, ("Epochs", f"{trainer.current_epoch} of {trainer.max_epochs}"))
    if (speed := trainer.callback_metrics.get("throughput/train_clips_per_s")) is not None:
        rows.append(("Training speed", f"{float(speed):.1f} clips/s (last epoch)"))
    e = evaluation
    rows.append(("AUC (last model, test)", f"**{e.auc_micro:.2%}** (macro {e.auc_macro:.2%}, without "
                                           f"per-video normalisation {e.auc_micro_global:.2%})"))
    if history and "auc_best" in history[-1]:
        rows.append(("Best validation AUC",
                     f"{history[-1]['auc_best']:.2%} at epoch {int(history[-1]['best_epoch']) + 1}"))
    links = []  # whatever the run left that a person looks at, relative to summary.md
    if timelines := sorted((run_dir / "timelines").glob("*.png")):
        links.append("- Score timelines (per test video): "
                     + ", ".join(f"[{p.stem}](timelines/{p.name})" for p in timelines))
    for name, what in (("results.json", "all numbers, per-epoch history"), ("scores.csv", "per-frame scores"),
                       ("run.log", "the full log")):
        if (run_dir / name).is_file():
            links.append(f"- [{name}]({name}): {what}")
    if checkpoints := sorted(p.name for p in (run_dir / "checkpoints").glob("*.ckpt")):
        links.append("- Checkpoints: " + ", ".join(f"[{c}](checkpoints/{c})" for c in checkpoints))
    if (run_dir / "tensorboard").is_dir():
        links.append(f"- TensorBoard: `tensorboard --logdir {run_dir / 'tensorboard'}`")
    table = ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    text = "\n".join([f"# {run_dir.name}", "", *table, "", "## Files", "", *links, ""])
    (run_dir / "summary.md").write_text(text)


# -- the HParams row -----------------------------------------------------------------------------------
def source_name(source: Any) -> str:
    """A short name of an intruder source config: its ``name`` (video sources), its folder, or its class."""
    if source is None:
        return NOT_APPLICABLE
    if source.get("name"):
        return str(source.name)
    if source.get("root"):
        return Path(str(source.root)).name
    cls = str(source.get("_target_", "")).rsplit(".", 1)[-1].removesuffix("Source")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower() or NOT_APPLICABLE


def run_hparams(cfg: DictConfig, run_dir: Path, datamodule: VideoDataModule) -> dict[str, Any]:
    """The run's HParams values (precision and epochs come from the trainer when training starts)."""
    pseudo = datamodule.pseudo
    skip = pseudo.skip if pseudo.needs_skip_clips else None
    entries = list(cfg.pseudo.get("patches") or [])
    first = pseudo.patches[0] if pseudo.patches else None
    return {
        "run": Path(run_dir).name,
        "dataset": datamodule.name,
        "variant": str(cfg.pseudo.name),
        "technique": "+".join((["skip_frame"] if skip else []) + [p.name for p in pseudo.patches]) or "none",
        "source": "+".join(source_name(e.get("source")) for e in entries) or NOT_APPLICABLE,
        "alpha": float(getattr(first, "max_size", math.nan)),  # α and β of a patch; NaN for others
        "beta": float(getattr(first, "max_move", math.nan)),
        "p": (skip.p if skip else 0.0) + sum(p.p for p in pseudo.patches),
        "jumps": ",".join(str(j) for j in skip.jump) if skip else NOT_APPLICABLE,
        "seed": int(cfg.seed),
        "resolution": f"{datamodule.height}x{datamodule.width}",
    }
