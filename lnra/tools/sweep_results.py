"""Reading a sweep back for :mod:`lnra.tools.report`: every ``results.json`` under a directory is one run
(a cell and a seed), runs of one cell are summarised over their seeds, and Hydra job directories
without results are found with their log, so a failed or unfinished job is never silently dropped."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import yaml

from lnra.diskio import unreadable
from lnra.errors import LnraError

LOG_NAMES = ("console.log", "run.log")
# The loss and net of a results.json written before runs recorded them: LNTRA's loss, the plain autoencoder.
DEFAULT_LOSS, DEFAULT_MODEL = "lntra", "ae3d"
# results.json keys of the pixel-level metrics (lnra.callbacks.localisation) → their column titles
PIXEL_COLUMNS = {"pixel_auroc": "pixel AUROC", "pixel_ucsd_auc": "UCSD pixel AUC",
                 "pixel_ucsd_eer": "UCSD pixel EER"}


class Cell(NamedTuple):
    """What tells the runs of a sweep apart besides their seed: the dataset, pseudo-anomaly, loss and net
    config names (the last two tell the family apart: STEAL Net's loss, MemAE's net)."""

    dataset: str
    pseudo: str
    loss: str = DEFAULT_LOSS
    model: str = DEFAULT_MODEL


@dataclass(frozen=True)
class Run:
    """One finished run: its cell, seed and AUCs in %."""

    cell: Cell
    seed: int
    last: float
    best: float | None
    path: Path
    pixel: tuple[float | None, ...] = (None,) * len(PIXEL_COLUMNS)  # in %, PIXEL_COLUMNS order


@dataclass(frozen=True)
class Missing:
    """A Hydra job directory without ``results.json``: failed, killed or still running."""

    path: Path
    overrides: str
    log: Path | None
    last_line: str


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (None for a single run) over the seeds of one cell."""

    seeds: tuple[int, ...]
    last_mean: float
    last_std: float | None
    best_mean: float | None
    best_std: float | None
    pixel: tuple[tuple[float | None, float | None], ...] = ()  # (mean, std) per PIXEL_COLUMNS

    @classmethod
    def of(cls, runs: list[Run]) -> Summary:
        runs = sorted(runs, key=lambda r: r.seed)
        last_mean, last_std = _mean_std([r.last for r in runs])
        bests = [r.best for r in runs]
        best_mean, best_std = _mean_std(bests) if None not in bests else (None, None)
        pixel = []
        for i in range(len(PIXEL_COLUMNS)):
            values = [r.pixel[i] for r in runs if r.pixel[i] is not None]
            pixel.append(_mean_std(values) if values else (None, None))
        return cls(tuple(r.seed for r in runs), last_mean, last_std, best_mean, best_std, tuple(pixel))


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def _percent(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return 100.0 * float(value)


def read_run(path: Path) -> Run:
    """One ``results.json``; a file that is not one of ours is an error naming the file."""
    try:
        data = json.loads(path.read_text())
        last = _percent(data["auc_micro"])
        cell = Cell(str(data["dataset"]), str(data["pseudo"]), str(data.get("loss", DEFAULT_LOSS)),
                    str(data.get("model", DEFAULT_MODEL)))
        return Run(cell, int(data["seed"]),
                   float("nan") if last is None else last, _percent(data.get("best_auc_micro")), path,
                   tuple(_percent(data.get(key)) for key in PIXEL_COLUMNS))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise LnraError(f"{path} is not a results.json of lnra ({err!r}); move it out of the sweep "
                        "directory or repair it") from None


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def read_missing(job_dir: Path) -> Missing:
    """What is known about a job that left no results: its overrides, its log and the log's last line."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else None
    log = next((job_dir / name for name in LOG_NAMES if (job_dir / name).is_file()), None)
    return Missing(job_dir, " ".join(overrides or []), log, _last_line(log) if log else "")


def collect(root: Path, out_dir: Path) -> tuple[list[Run], list[Missing]]:
    """Every run under ``root`` and every job directory there without results (``out_dir`` skipped)."""
    problem = unreadable(root, "sweep directory", "folder")
    if problem:
        raise LnraError(f"{problem} (give the multirun directory of a sweep)")
    runs = [read_run(p) for p in sorted(root.rglob("results.json")) if out_dir not in p.parents]
    finished = {r.path.parent for r in runs}
    job_dirs = sorted({p.parent for p in root.rglob(".hydra") if p.is_dir()}
                      | {p.parent for p in root.rglob(LOG_NAMES[0])})
    missing = [read_missing(d) for d in job_dirs if d not in finished and out_dir not in d.parents]
    if not runs and not missing:
        raise LnraError(f"no results.json and no Hydra job directory under {root}; is it a sweep directory?")
    return runs, missing


def summarise(runs: Iterable[Run]) -> dict[Cell, Summary]:
    cells: dict[Cell, list[Run]] = {}
    for run in runs:
        cells.setdefault(run.cell, []).append(run)
    return {cell: Summary.of(group) for cell, group in cells.items()}
