"""``summary.md``: the page a user opens first in a run directory.

results.json is for programs; this is the same run told to a person: the command, what was trained on
what device, how long it took and how fast, the AUCs, and links to the plots and logs beside it.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from lnra.callbacks.progress import ProgressLines, duration
from lnra.callbacks.throughput import find_timer
from lnra.method.scoring import Evaluation
from lnra.run.console import device_name


def command_line() -> str:
    """The command as typed: ``python run.py`` and the overrides of this job (a sweep's job included)."""
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else sys.argv[1:]
    return " ".join(["python run.py", *(shlex.quote(o) for o in overrides)])


def _links(run_dir: Path) -> list[str]:
    """Whatever the run left that a person looks at, linked relative to summary.md."""
    lines = []
    timelines = sorted((run_dir / "timelines").glob("*.png"))
    if timelines:
        lines.append("- Score timelines (per test video): "
                     + ", ".join(f"[{p.stem}](timelines/{p.name})" for p in timelines))
    for name, what in (("results.json", "all numbers, per-epoch history"), ("scores.csv", "per-frame scores"),
                       ("run.log", "the full log")):
        if (run_dir / name).is_file():
            lines.append(f"- [{name}]({name}): {what}")
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("*.ckpt"))
    if checkpoints:
        lines.append("- Checkpoints: " + ", ".join(f"[{c}](checkpoints/{c})" for c in checkpoints))
    if (run_dir / "tensorboard").is_dir():
        lines.append(f"- TensorBoard: `tensorboard --logdir {run_dir / 'tensorboard'}`")
    return lines


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def write_summary(run_dir: Path, cfg: DictConfig, trainer: pl.Trainer, evaluation: Evaluation,
                  history: list[dict[str, float]]) -> Path:
    """Write ``run_dir/summary.md`` from the finished run (after its results files)."""
    progress = next((c for c in trainer.callbacks if isinstance(c, ProgressLines)), None)
    d = cfg.dataset
    rows = [("Command", f"`{command_line()}`"), ("Task", cfg.task),
            ("Dataset", f"{d.name} at {d.height}x{d.width}, clips of {d.clip_len} frames"),
            ("Variant (pseudo anomalies)", cfg.pseudo.name), ("Precision", str(trainer.precision)),
            ("Device", device_name(trainer))]
    if cfg.task == "train":
        rows.append(("Epochs", f"{trainer.current_epoch} of {trainer.max_epochs}"))
    if progress is not None:
        rows.append(("Wall time", duration(time.monotonic() - progress.created)))
    timer = find_timer(trainer)
    if timer is not None and timer.train.total_samples:
        train = timer.train
        rows.append(("Training speed", f"{train.total_rate:.1f} clips/s ({train.total_samples} clips in "
                                       f"{duration(train.total_seconds)} of training epochs)"))
    e = evaluation
    rows.append(("AUC (last model, test)", f"**{_pct(e.auc_micro)}** (macro {_pct(e.auc_macro)}, without "
                                           f"per-video normalisation {_pct(e.auc_micro_global)})"))
    if history:
        best = max(history, key=lambda h: h["auc_micro"])
        rows.append(("Best validation AUC", f"{_pct(best['auc_micro'])} at epoch {int(best['epoch']) + 1}"))
    table = ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    text = "\n".join([f"# {run_dir.name}", "", *table, "", "## Files", "", *_links(run_dir), ""])
    path = run_dir / "summary.md"
    path.write_text(text)
    return path
