"""Turn a sweep's run directories back into the paper's tables
(``python -m lnra.tools.report <multirun dir>``; docs/guide.md); a failed job is listed, never dropped."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import yaml

from lnra.diskio import creatable, unreadable
from lnra.errors import LnraError, exit_status

DATASETS = {"ped2": "Ped2", "avenue": "Avenue", "shanghai": "ShanghaiTech"}

# Table 1 of the paper (docs/method.md §7): (variant, pseudo config) → AUC per dataset, in %.
TABLE1 = [
    ("baseline", "none", {"ped2": 92.49, "avenue": 81.47, "shanghai": 71.28}),
    ("patch (CIFAR-100, SmoothMixS)", "cifar_smoothmix", {"ped2": 94.77, "avenue": 84.91, "shanghai": 72.46}),
    ("skip frame", "skip_frame", {"ped2": 96.50, "avenue": 84.67, "shanghai": 75.97}),
]

# The same family's published numbers (docs/method.md §9), rows under Table 1: (method, its cell's config
# names besides the dataset) → AUC per dataset, in %; MemAE's also beside an independent reproduction's.
FAMILY = [
    ("STEAL Net", {"pseudo": "steal_skip_frame", "loss": "steal"},
     {"ped2": 98.4, "avenue": 87.1, "shanghai": 73.7}),
    ("MemAE", {"pseudo": "none", "model": "memae"}, {"ped2": 94.1, "avenue": 83.3, "shanghai": 71.2}),
    ("MemAE (independent reproduction)", {"pseudo": "none", "model": "memae"},
     {"ped2": 92.3, "avenue": 82.9, "shanghai": 70.0}),
]

# Fig. 5(c) of the paper (docs/method.md §7), all on Ped2: (intruder, patching, pseudo config, AUC in %).
FIG5C = [
    ("CIFAR-100", "SmoothMixS", "cifar_smoothmix", 94.77),
    ("ImageNet", "SmoothMixS", "imagenet_smoothmix", 93.34),
    ("ShanghaiTech", "SmoothMixS", "shanghai_smoothmix", 94.74),
    ("Ped2", "SmoothMixS", "ped2_smoothmix", 94.15),
    ("CIFAR-100", "SmoothMixC", "cifar_smoothmixc", 94.22),
    ("CIFAR-100", "CutMix", "cifar_cutmix", 93.54),
    ("CIFAR-100", "MixUp-patch", "cifar_mixup_patch", 94.52),
]

REPORT_FILES = ("report.md", "table1.csv", "fig5c.csv", "other.csv", "table1.png", "fig5c.png")
LOG_NAMES = ("console.log", "run.log")
# results.json keys of the pixel-level metrics (lnra.callbacks.result) → their column titles
PIXEL_COLUMNS = {"pixel_auroc": "pixel AUROC", "pixel_ucsd_auc": "UCSD pixel AUC",
                 "pixel_ucsd_eer": "UCSD pixel EER"}


class Cell(NamedTuple):
    """What tells a sweep's runs apart besides their seed (loss and net tell STEAL Net and MemAE apart)."""

    dataset: str
    pseudo: str
    loss: str = "lntra"  # a results.json written before runs recorded loss and net: LNTRA's loss,
    model: str = "ae3d"  # the plain autoencoder


class Run(NamedTuple):
    cell: Cell
    seed: int
    last: float  # AUCs in %
    best: float | None
    pixel: tuple[float | None, ...] = (None,) * len(PIXEL_COLUMNS)  # in %, PIXEL_COLUMNS order


class Summary(NamedTuple):
    """Mean and sample standard deviation (None for one run) over a cell's seeds; by default: no runs."""

    seeds: tuple[int, ...] = ()
    last: tuple[float | None, float | None] = (None, None)  # (mean, std), as best and each pixel metric
    best: tuple[float | None, float | None] = (None, None)
    pixel: tuple[tuple[float | None, float | None], ...] = ((None, None),) * len(PIXEL_COLUMNS)


def _mean_std(values: Iterable[float]) -> tuple[float, float | None]:
    """Over the runs that have a number: a run that ended without an AUC (NaN) does not void its cell."""
    if not (values := [v for v in values if not math.isnan(v)]):
        return math.nan, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def _percent(value: object) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else 100.0 * float(value)


def read_run(path: Path) -> Run:
    """One ``results.json``; a file that is not one of ours is an error naming the file."""
    try:
        data = json.loads(path.read_text())
        last = _percent(data["auc_micro"])
        cell = Cell(str(data["dataset"]), str(data["pseudo"]),
                    **{key: str(data[key]) for key in ("loss", "model") if key in data})
        return Run(cell, int(data["seed"]),
                   float("nan") if last is None else last, _percent(data.get("best_auc_micro")),
                   tuple(_percent(data.get(key)) for key in PIXEL_COLUMNS))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise LnraError(f"{path} is not a results.json of lnra ({err!r}); move it out of the sweep "
                        "directory or repair it") from None


def read_missing(job_dir: Path, root: Path) -> list[str]:
    """A job without results (failed, killed, still running) as its row: folder, overrides, log, last line."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else None
    log = next((job_dir / name for name in LOG_NAMES if (job_dir / name).is_file()), None)
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()] if log else []
    last = next((line for line in reversed(lines) if line), "").replace("|", "\\|")
    return [str(job_dir.relative_to(root)), " ".join(overrides or []),
            str(log.relative_to(root)) if log else "(no log)", last]


def collect(root: Path, out_dir: Path) -> tuple[list[Run], list[list[str]]]:
    """Every run under ``root`` and every job directory there without results (``out_dir`` skipped)."""
    if problem := unreadable(root, "sweep directory", "folder"):
        raise LnraError(f"{problem} (give the multirun directory of a sweep)")
    results = [p for p in sorted(root.rglob("results.json")) if out_dir not in p.parents]
    runs, finished = [read_run(p) for p in results], {p.parent for p in results}
    job_dirs = sorted({p.parent for p in root.rglob(".hydra") if p.is_dir()}
                      | {p.parent for p in root.rglob(LOG_NAMES[0])})
    missing = [read_missing(d, root) for d in job_dirs if d not in finished and out_dir not in d.parents]
    if not runs and not missing:
        raise LnraError(f"no results.json and no Hydra job directory under {root}; is it a sweep directory?")
    return runs, missing


def summarise(runs: Iterable[Run]) -> dict[Cell, Summary]:
    summaries = {}
    for cell, group in itertools.groupby(sorted(runs, key=lambda r: (r.cell, r.seed)), key=lambda r: r.cell):
        _, seeds, lasts, bests, pixels = zip(*group, strict=True)  # Run's fields, each over the cell's runs
        pixel = [[v for v in column if v is not None] for column in zip(*pixels, strict=True)]
        summaries[cell] = Summary(seeds, _mean_std(lasts),
                                  _mean_std(bests) if None not in bests else (None, None),
                                  tuple(_mean_std(values) if values else (None, None) for values in pixel))
    return summaries


def _pm(mean: float | None, std: float | None) -> str:
    return "—" if mean is None else f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def markdown(columns: list[str], rows: Iterable[Iterable[str]]) -> list[str]:
    """The lines of a Markdown table (also :mod:`lnra.tools.hparams_table`'s)."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(row) + " |" for row in rows)]


class Row(NamedTuple):
    labels: tuple[str, ...]
    cell: Cell
    paper: float


# The paper's tables in the report: file name, title, label columns and rows (Table 1 with the family below).
_VARIANTS = [(variant, {"pseudo": pseudo}, auc) for variant, pseudo, auc in TABLE1] + FAMILY
PAPER_TABLES = [
    ("table1", "Table 1", ["variant", "dataset"],
     [Row((variant, DATASETS[d]), Cell(d, **names), auc[d]) for variant, names, auc in _VARIANTS
      for d in DATASETS]),
    ("fig5c", "Fig. 5(c) (Ped2)", ["intruder", "patching"],
     [Row((intruder, patching), Cell("ped2", pseudo), auc) for intruder, patching, pseudo, auc in FIG5C]),
]


def _columns(s: Summary, paper: float | None, pixel: bool) -> tuple[list[str], list[str]]:
    """A cell's values after its labels, in the Markdown table and in the CSV file (Δ only with ``paper``)."""
    last, best, *pixels = [s.last, s.best, *(s.pixel if pixel else ())]
    md, row = [], [_num(paper), str(len(s.seeds)), " ".join(map(str, s.seeds))]
    for mean, std in (last, best):
        md += [_pm(mean, std), *([] if paper is None else ["—" if mean is None else f"{mean - paper:+.2f}"])]
        row += [_num(mean), _num(std), "" if mean is None or paper is None else f"{mean - paper:.4f}"]
    md += [",".join(map(str, s.seeds)) or "none", *(_pm(*p) for p in pixels)]
    return md, [*row, *(_num(v) for p in pixels for v in p)]


def write_csv(path: Path, label_columns: list[str], rows: list[list[str]], pixel: bool) -> None:
    header = [*label_columns, *Cell._fields, "paper", "n_runs", "seeds", "last_mean", "last_std", "last_diff",
              "best_mean", "best_std", "best_diff",
              *(f"{key}_{stat}" for key in PIXEL_COLUMNS if pixel for stat in ("mean", "std"))]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])


def bar_chart(path: Path, title: str, rows: list[Row], cells: dict[Cell, Summary]) -> None:
    """Last-epoch AUC per row (mean, error bar = std over seeds) with the paper's number as a tick."""
    from matplotlib.figure import Figure

    summaries = [cells.get(r.cell, Summary()) for r in rows]
    means, errors = [s.last[0] or 0.0 for s in summaries], [s.last[1] or 0.0 for s in summaries]
    fig = Figure(figsize=(max(6.0, 0.6 * len(rows) + 2), 4.5))
    ax = fig.subplots()
    ax.bar(range(len(rows)), means, yerr=errors, capsize=3, color="tab:blue", label="ours (last epoch)")
    ax.scatter(range(len(rows)), [r.paper for r in rows], marker="_", s=300, color="black", zorder=3,
               label="paper")
    ax.set_xticks(range(len(rows)), [" / ".join(r.labels) for r in rows], rotation=45, ha="right", fontsize=8)
    low = min([m for m in means if m > 0] + [r.paper for r in rows])
    ax.set(ylabel="frame-level micro AUC (%)", ylim=(max(0.0, low - 10), 100), title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def build_report(root: Path, out_dir: Path | None = None, overwrite: bool = False) -> Path:
    """Write the report files for the sweep under ``root``; return the folder they are in."""
    out_dir = out_dir or root / "report"
    runs, missing = collect(root, out_dir)  # first: a sweep that cannot be read is the first thing to say
    if problem := creatable(out_dir):
        raise LnraError(f"--out {out_dir}: {problem}")
    if (existing := [name for name in REPORT_FILES if (out_dir / name).exists()]) and not overwrite:
        raise LnraError(f"{out_dir} already holds a report ({', '.join(existing)}); "
                        "pass --overwrite to replace it or --out DIR to write elsewhere")
    cells = summarise(runs)
    pixel = any(mean is not None for s in cells.values() for mean, _ in s.pixel)
    pixel_titles = list(PIXEL_COLUMNS.values()) if pixel else []
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in existing:
        (out_dir / name).unlink()

    other = sorted(set(cells) - {r.cell for *_, rows in PAPER_TABLES for r in rows})
    sections = [f"# Report of {root}", "",
                f"{len(runs)} finished run(s), {len(missing)} job(s) without results. AUC: frame-level "
                "micro AUC in %, mean ± sample std over seeds; Δ = ours − paper.", ""]
    for name, title, headers, rows in PAPER_TABLES:
        if not any(r.cell in cells for r in rows):
            continue
        columns = [*headers, "paper", "last epoch", "Δ last", "best epoch", "Δ best", "seeds", *pixel_titles]
        values = [(r, *_columns(cells.get(r.cell, Summary()), r.paper, pixel)) for r in rows]
        table = markdown(columns, ([*r.labels, f"{r.paper:.2f}", *md] for r, md, _ in values))
        sections += [f"## {title}", "", *table, "", f"![{title}]({name}.png)", ""]
        write_csv(out_dir / f"{name}.csv", headers, [[*r.labels, *r.cell, *c] for r, _, c in values], pixel)
        bar_chart(out_dir / f"{name}.png", title, rows, cells)
    if other:
        columns = [*Cell._fields, "last epoch", "best epoch", "seeds", *pixel_titles]
        values = [(c, *_columns(cells[c], None, pixel)) for c in other]
        sections += ["## Other runs", "", *markdown(columns, ([*c, *md] for c, md, _ in values)), ""]
        write_csv(out_dir / "other.csv", [], [[*c, *row] for c, _, row in values], pixel)
    if missing:
        sections += ["## Jobs without results (failed or unfinished)", "",
                     *markdown(["job", "overrides", "log", "last line of the log"], missing), ""]
    (out_dir / "report.md").write_text("\n".join(sections))
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lnra.tools.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (outputs/multiruns/<time>)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <sweep_dir>/report)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report")
    args = parser.parse_args(argv)

    def work() -> None:
        out = build_report(args.sweep_dir, args.out, args.overwrite)
        print((out / "report.md").read_text(), f"report written to {out}", sep="\n")

    return exit_status(work)


if __name__ == "__main__":
    sys.exit(main())
