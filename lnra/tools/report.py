"""Turn a sweep's run directories back into the paper's tables
(``python -m lnra.tools.report <multirun dir>``).

Every ``results.json`` under the directory is one run (a cell and a seed), read by
:mod:`lnra.tools.sweep_results`. Runs of the same cell are summarised as mean ± sample standard
deviation over seeds, once for the last epoch (the number a run reports) and once for its best
validation epoch (how the original code selected epochs), beside the paper's number and the
difference to it. Hydra job directories without ``results.json`` are
listed with their log, so a failed or unfinished job is never silently dropped.

Writes, into ``<multirun dir>/report`` unless ``--out`` says otherwise: ``report.md`` (everything),
``table1.csv``, ``fig5c.csv``, ``other.csv`` (cells outside the paper) and ``table1.png``,
``fig5c.png``. Existing report files are never overwritten without ``--overwrite``.

Table 1 also carries the published numbers of the same family (docs/method.md §9): STEAL Net (its loss,
``loss: steal`` in results.json, with the ``steal_skip_frame`` pseudo anomalies) and MemAE (its net,
``model: memae``, no pseudo anomaly), the latter twice: beside the published number and an independent
reproduction's. A results.json without ``loss`` or ``model`` is a run of LNTRA's loss on the plain
autoencoder.

When any run measured pixel-level localisation (a dataset with pixel masks), every table gains three
columns: pixel AUROC and the UCSD pixel-level ROC AUC and EER of the last epoch, mean ± std in %.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from lnra.diskio import creatable
from lnra.errors import LnraError, exit_status
from lnra.tools.sweep_results import PIXEL_COLUMNS, Cell, Summary, collect, summarise

DATASETS = {"ped2": "Ped2", "avenue": "Avenue", "shanghai": "ShanghaiTech"}

# Table 1 of the paper (docs/method.md §7): (variant, pseudo config) → AUC per dataset, in %.
TABLE1 = [
    ("baseline", "none", {"ped2": 92.49, "avenue": 81.47, "shanghai": 71.28}),
    ("patch (CIFAR-100, SmoothMixS)", "cifar_smoothmix", {"ped2": 94.77, "avenue": 84.91, "shanghai": 72.46}),
    ("skip frame", "skip_frame", {"ped2": 96.50, "avenue": 84.67, "shanghai": 75.97}),
]

# The same family's published numbers (docs/method.md §9), rows under Table 1: (method, its cell's config
# names besides the dataset) → AUC per dataset, in %. MemAE's runs are set beside both its published
# number and an independent reproduction's.
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


# -- formatting ------------------------------------------------------------------------------------
def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _diff(mean: float | None, paper: float) -> str:
    return "—" if mean is None else f"{mean - paper:+.2f}"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


@dataclass(frozen=True)
class Row:
    """One line of a paper table: its labels, the cell it reads and the paper's number."""

    labels: tuple[str, ...]
    cell: Cell
    paper: float


def table1_rows() -> list[Row]:
    variants = [(variant, {"pseudo": pseudo}, auc) for variant, pseudo, auc in TABLE1] + FAMILY
    return [Row((variant, DATASETS[d]), Cell(d, **names), auc[d]) for variant, names, auc in variants
            for d in DATASETS]


def fig5c_rows() -> list[Row]:
    return [Row((intruder, patching), Cell("ped2", pseudo), auc) for intruder, patching, pseudo, auc in FIG5C]


def has_pixel(cells: dict[Cell, Summary]) -> bool:
    """Whether any run of the sweep measured pixel-level localisation (then the tables show it)."""
    return any(mean is not None for s in cells.values() for mean, _ in s.pixel)


def _pixel_values(s: Summary | None) -> list[str]:
    return ["—"] * len(PIXEL_COLUMNS) if s is None else [_pm(mean, std) for mean, std in s.pixel]


def markdown_table(headers: list[str], rows: list[Row], cells: dict[Cell, Summary],
                   pixel: bool = False) -> str:
    columns = [*headers, "paper", "last epoch", "Δ last", "best epoch", "Δ best", "seeds"]
    columns += list(PIXEL_COLUMNS.values()) if pixel else []
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        s = cells.get(row.cell)
        values = (["—", "—", "—", "—", "none"] if s is None else
                  [_pm(s.last_mean, s.last_std), _diff(s.last_mean, row.paper), _pm(s.best_mean, s.best_std),
                   _diff(s.best_mean, row.paper), ",".join(map(str, s.seeds))])
        values += _pixel_values(s) if pixel else []
        lines.append("| " + " | ".join([*row.labels, f"{row.paper:.2f}", *values]) + " |")
    return "\n".join(lines)


CSV_COLUMNS = [*Cell._fields, "paper", "n_runs", "seeds", "last_mean", "last_std", "last_diff",
               "best_mean", "best_std", "best_diff"]


PIXEL_CSV_COLUMNS = [f"{key}_{stat}" for key in PIXEL_COLUMNS for stat in ("mean", "std")]


def _csv_row(cell: Cell, paper: float | None, s: Summary | None, pixel: bool = False) -> list[str]:
    def diff(mean: float | None) -> str:
        return "" if mean is None or paper is None else f"{mean - paper:.4f}"

    pixel_values = [] if not pixel else (["", ""] * len(PIXEL_COLUMNS) if s is None else
                                         [_num(v) for pair in s.pixel for v in pair])
    if s is None:
        return [*cell, _num(paper), "0", "", "", "", "", "", "", "", *pixel_values]
    return [*cell, _num(paper), str(len(s.seeds)), " ".join(map(str, s.seeds)),
            _num(s.last_mean), _num(s.last_std), diff(s.last_mean),
            _num(s.best_mean), _num(s.best_std), diff(s.best_mean), *pixel_values]


def write_csv(path: Path, label_columns: list[str], rows: list[tuple[tuple[str, ...], list[str]]],
              pixel: bool = False) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*label_columns, *CSV_COLUMNS, *(PIXEL_CSV_COLUMNS if pixel else [])])
        for labels, values in rows:
            writer.writerow([*labels, *values])


def bar_chart(path: Path, title: str, rows: list[Row], cells: dict[Cell, Summary]) -> None:
    """Last-epoch AUC per row (mean, error bar = std over seeds) with the paper's number as a tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [" / ".join(r.labels) for r in rows]
    summaries = [cells.get(r.cell) for r in rows]
    means = [s.last_mean if s else 0.0 for s in summaries]
    errors = [(s.last_std or 0.0) if s else 0.0 for s in summaries]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(rows) + 2), 4.5))
    ax.bar(range(len(rows)), means, yerr=errors, capsize=3, color="tab:blue", label="ours (last epoch)")
    ax.scatter(range(len(rows)), [r.paper for r in rows], marker="_", s=300, color="black", zorder=3,
               label="paper")
    ax.set_xticks(range(len(rows)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("frame-level micro AUC (%)")
    low = min([m for m in means if m > 0] + [r.paper for r in rows])
    ax.set_ylim(max(0.0, low - 10), 100)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_report(root: Path, out_dir: Path | None = None, overwrite: bool = False) -> Path:
    """Write the report files for the sweep under ``root``; return the folder they are in."""
    root = Path(root)
    out_dir = Path(out_dir) if out_dir else root / "report"
    runs, missing = collect(root, out_dir)  # first: a sweep that cannot be read is the first thing to say
    problem = creatable(out_dir)
    if problem:
        raise LnraError(f"--out {out_dir}: {problem}")
    existing = [name for name in REPORT_FILES if (out_dir / name).exists()]
    if existing and not overwrite:
        raise LnraError(f"{out_dir} already holds a report ({', '.join(existing)}); "
                        "pass --overwrite to replace it or --out DIR to write elsewhere")
    cells = summarise(runs)
    pixel = has_pixel(cells)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in existing:
        (out_dir / name).unlink()

    paper_cells = {r.cell for r in table1_rows() + fig5c_rows()}
    other = sorted(cell for cell in cells if cell not in paper_cells)
    sections = [f"# Report of {root}", "",
                f"{len(runs)} finished run(s), {len(missing)} job(s) without results. AUC: frame-level "
                "micro AUC in %, mean ± sample std over seeds; Δ = ours − paper.", ""]
    for name, title, headers, rows in (("table1", "Table 1", ["variant", "dataset"], table1_rows()),
                                       ("fig5c", "Fig. 5(c) (Ped2)", ["intruder", "patching"], fig5c_rows())):
        if not any(r.cell in cells for r in rows):
            continue
        sections += [f"## {title}", "", markdown_table(headers, rows, cells, pixel), ""]
        write_csv(out_dir / f"{name}.csv", headers,
                  [(r.labels, _csv_row(r.cell, r.paper, cells.get(r.cell), pixel))
                   for r in rows], pixel)
        bar_chart(out_dir / f"{name}.png", title, rows, cells)
        sections += [f"![{title}]({name}.png)", ""]
    if other:
        columns = [*Cell._fields, "last epoch", "best epoch", "seeds",
                   *(PIXEL_COLUMNS.values() if pixel else [])]
        sections += ["## Other runs", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for cell in other:
            s = cells[cell]
            values = [*cell, _pm(s.last_mean, s.last_std), _pm(s.best_mean, s.best_std),
                      ",".join(map(str, s.seeds)), *(_pixel_values(s) if pixel else [])]
            sections.append("| " + " | ".join(values) + " |")
        sections.append("")
        write_csv(out_dir / "other.csv", [],
                  [((), _csv_row(cell, None, cells[cell], pixel)) for cell in other], pixel)
    if missing:
        sections += ["## Jobs without results (failed or unfinished)", "",
                     "| job | overrides | log | last line of the log |", "|---|---|---|---|"]
        for m in missing:
            log = str(m.log.relative_to(root)) if m.log else "(no log)"
            last = m.last_line.replace("|", "\\|")
            sections.append(f"| {m.path.relative_to(root)} | {m.overrides} | {log} | {last} |")
        sections.append("")
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
        print((out / "report.md").read_text())
        print(f"report written to {out}")

    return exit_status(work)


if __name__ == "__main__":
    sys.exit(main())
