"""``python -m lnra.tools.report``: hand-written results.json files in a fake sweep tree → exact tables."""

from __future__ import annotations

import csv
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import REPO

from lnra.errors import LnraError
from lnra.tools import report
from lnra.tools.report import build_report, main


def write_run(root: Path, job: str, dataset: str, pseudo: str, seed: int, last: float,
              best: float | None, **extra: float | str | None) -> None:
    """A job directory as a sweep leaves it: Hydra's overrides, lnra's results.json (AUCs as fractions);
    ``extra`` keys (pixel metrics, loss, model) are written only when given, as older runs lack them."""
    folder = root / job
    (folder / ".hydra").mkdir(parents=True)
    overrides = f"- dataset={dataset}\n- pseudo={pseudo}\n- seed={seed}\n"
    (folder / ".hydra" / "overrides.yaml").write_text(overrides)
    (folder / "results.json").write_text(json.dumps({
        "dataset": dataset, "pseudo": pseudo, "seed": seed, "epoch": 59, "auc_micro": last,
        "auc_macro": 0.5, "auc_micro_global": 0.5, "n_frames": 100,
        "best_epoch": None if best is None else 12, "best_auc_micro": best, "history": [], **extra,
    }))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "multiruns" / "2024-01-01_00-00-00"
    write_run(root, "0_ped2_none_seed0", "ped2", "none", 0, 0.90, 0.93)
    write_run(root, "1_ped2_none_seed1", "ped2", "none", 1, 0.92, 0.95)
    write_run(root, "2_ped2_skip_frame_seed0", "ped2", "skip_frame", 0, 0.965, 0.97)
    write_run(root, "3_avenue_cifar_smoothmix_seed2", "avenue", "cifar_smoothmix", 2, 0.80, None)
    write_run(root, "4_ped2_cifar_cutmix_seed0", "ped2", "cifar_cutmix", 0, 0.94, 0.945)
    write_run(root, "5_synthetic_none_seed0", "synthetic", "none", 0, 0.87, 0.88)
    failed = root / "6_shanghai_none_seed0"
    (failed / ".hydra").mkdir(parents=True)
    (failed / ".hydra" / "overrides.yaml").write_text("- dataset=shanghai\n- pseudo=none\n- seed=0\n")
    (failed / "console.log").write_text("loading\nerror: frames not found: /data/shanghai\n\n")
    return root


def test_report_tables_are_exact(sweep: Path) -> None:
    out = build_report(sweep)
    assert out == sweep / "report"
    text = (out / "report.md").read_text()
    table1 = [line for line in text.splitlines() if line.startswith("| baseline") or line.startswith("| skip")
              or line.startswith("| patch")]
    assert table1 == [
        "| baseline | Ped2 | 92.49 | 91.00 ± 1.41 | -1.49 | 94.00 ± 1.41 | +1.51 | 0,1 |",
        "| baseline | Avenue | 81.47 | — | — | — | — | none |",
        "| baseline | ShanghaiTech | 71.28 | — | — | — | — | none |",
        "| patch (CIFAR-100, SmoothMixS) | Ped2 | 94.77 | — | — | — | — | none |",
        "| patch (CIFAR-100, SmoothMixS) | Avenue | 84.91 | 80.00 | -4.91 | — | — | 2 |",
        "| patch (CIFAR-100, SmoothMixS) | ShanghaiTech | 72.46 | — | — | — | — | none |",
        "| skip frame | Ped2 | 96.50 | 96.50 | +0.00 | 97.00 | +0.50 | 0 |",
        "| skip frame | Avenue | 84.67 | — | — | — | — | none |",
        "| skip frame | ShanghaiTech | 75.97 | — | — | — | — | none |",
    ]
    assert "| CIFAR-100 | CutMix | 93.54 | 94.00 | +0.46 | 94.50 | +0.96 | 0 |" in text
    assert "| ImageNet | SmoothMixS | 93.34 | — | — | — | — | none |" in text
    assert "| synthetic | none | lntra | ae3d | 87.00 | 88.00 | 0 |" in text
    assert ("| 6_shanghai_none_seed0 | dataset=shanghai pseudo=none seed=0 "
            "| 6_shanghai_none_seed0/console.log | error: frames not found: /data/shanghai |") in text
    assert "6 finished run(s), 1 job(s) without results" in text

    with open(out / "table1.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 18  # 3 paper variants and 3 rows of the family, each on 3 datasets
    assert rows[0] == {"variant": "baseline", "dataset": "ped2", "pseudo": "none", "loss": "lntra",
                       "model": "ae3d", "paper": "92.4900",
                       "n_runs": "2", "seeds": "0 1", "last_mean": "91.0000", "last_std": "1.4142",
                       "last_diff": "-1.4900", "best_mean": "94.0000", "best_std": "1.4142",
                       "best_diff": "1.5100"}
    with open(out / "fig5c.csv") as f:
        fig = list(csv.DictReader(f))
    assert [r["pseudo"] for r in fig] == [
        "cifar_smoothmix", "imagenet_smoothmix", "shanghai_smoothmix", "ped2_smoothmix", "cifar_smoothmixc",
        "cifar_cutmix", "cifar_mixup_patch"]
    assert fig[5]["last_mean"] == "94.0000" and fig[0]["n_runs"] == "0"
    for name in ("table1.png", "fig5c.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_refuses_to_overwrite(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_report(sweep)
    before = (sweep / "report" / "report.md").read_text()
    write_run(sweep, "7_ped2_none_seed2", "ped2", "none", 2, 0.94, 0.96)
    assert main([str(sweep)]) == 2
    assert "already holds a report" in capsys.readouterr().err
    assert (sweep / "report" / "report.md").read_text() == before
    assert main([str(sweep), "--overwrite"]) == 0
    again = (sweep / "report" / "report.md").read_text()
    assert "| baseline | Ped2 | 92.49 | 92.00 ± 2.00 | -0.49 |" in again


def test_report_only_writes_tables_it_has_runs_for(tmp_path: Path) -> None:
    write_run(tmp_path, "0", "ped2", "cifar_mixup_patch", 0, 0.9, 0.9)
    out = build_report(tmp_path, tmp_path / "elsewhere")
    assert sorted(p.name for p in out.iterdir()) == ["fig5c.csv", "fig5c.png", "report.md"]
    assert "Table 1" not in (out / "report.md").read_text()


def test_bad_sweep_directories_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(LnraError, match="sweep directory not found"):
        build_report(tmp_path / "nope")
    with pytest.raises(LnraError, match="no results.json and no Hydra job directory"):
        build_report(tmp_path)
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "results.json").write_text('{"dataset": "ped2"}')
    with pytest.raises(LnraError, match=r"0/results.json is not a results.json of lnra"):
        build_report(tmp_path)


def test_command_line(sweep: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "lnra.tools.report", str(sweep), "--out", str(sweep / "r")],
                          capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "| skip frame | Ped2 | 96.50 | 96.50 | +0.00 |" in proc.stdout
    assert (sweep / "r" / "table1.csv").is_file()


def test_pixel_metrics_become_extra_columns(sweep: Path) -> None:
    """Runs with pixel-level localisation add mean ± std columns; runs without show a dash."""
    for job, seed, auroc, auc, eer in (("7_ped2_skip_frame_seed1", 1, 0.80, 0.60, 0.40),
                                       ("8_ped2_skip_frame_seed2", 2, 0.90, 0.70, 0.30)):
        write_run(sweep, job, "ped2", "skip_frame", seed, 0.965, 0.97, pixel_auroc=auroc, pixel_ucsd_auc=auc,
                  pixel_ucsd_eer=eer)
    out = build_report(sweep)
    text = (out / "report.md").read_text()
    assert "| seeds | pixel AUROC | UCSD pixel AUC | UCSD pixel EER |" in text
    assert ("| skip frame | Ped2 | 96.50 | 96.50 ± 0.00 | +0.00 | 97.00 ± 0.00 | +0.50 | 0,1,2 "
            "| 85.00 ± 7.07 | 65.00 ± 7.07 | 35.00 ± 7.07 |") in text
    assert ("| baseline | Ped2 | 92.49 | 91.00 ± 1.41 | -1.49 | 94.00 ± 1.41 | +1.51 | 0,1 "
            "| — | — | — |") in text
    with open(out / "table1.csv") as f:
        rows = {(r["dataset"], r["pseudo"]): r for r in csv.DictReader(f)}
    assert rows[("ped2", "skip_frame")]["pixel_ucsd_eer_mean"] == "35.0000"
    assert rows[("ped2", "none")]["pixel_auroc_mean"] == ""


def test_family_runs_get_their_own_rows_beside_table1(sweep: Path) -> None:
    """STEAL and MemAE runs are told apart by the loss and net their results.json names; they neither mix
    into the LNTRA rows of the same dataset and pseudo anomaly, nor are missed by their own rows. The
    STEAL run leaves ``model`` out: the plain autoencoder, like every results.json without the key."""
    write_run(sweep, "7_ped2_steal_seed0", "ped2", "steal_skip_frame", 0, 0.98, 0.99, loss="steal")
    write_run(sweep, "8_ped2_memae_seed0", "ped2", "none", 0, 0.93, 0.94, loss="lntra", model="memae")
    write_run(sweep, "9_ped2_memae_seed1", "ped2", "none", 1, 0.95, 0.96, loss="lntra", model="memae")
    write_run(sweep, "10_ped2_steal_memae_seed0", "ped2", "skip_frame", 0, 0.96, 0.97, loss="steal",
              model="memae")
    text = (build_report(sweep) / "report.md").read_text()
    # The baseline (pseudo none, no loss or model keys) still averages seeds 0 and 1 at 90 and 92 only.
    assert "| baseline | Ped2 | 92.49 | 91.00 ± 1.41 | -1.49 | 94.00 ± 1.41 | +1.51 | 0,1 |" in text
    assert "| skip frame | Ped2 | 96.50 | 96.50 | +0.00 | 97.00 | +0.50 | 0 |" in text
    assert "| STEAL Net | Ped2 | 98.40 | 98.00 | -0.40 | 99.00 | +0.60 | 0 |" in text
    assert "| STEAL Net | Avenue | 87.10 | — | — | — | — | none |" in text
    assert "| MemAE | Ped2 | 94.10 | 94.00 ± 1.41 | -0.10 | 95.00 ± 1.41 | +0.90 | 0,1 |" in text
    assert ("| MemAE (independent reproduction) | Ped2 | 92.30 | 94.00 ± 1.41 | +1.70 | 95.00 ± 1.41 | +2.70 "
            "| 0,1 |") in text
    # A combination no paper reports is an other run, with its loss and net named.
    assert "| ped2 | skip_frame | steal | memae | 96.00 | 97.00 | 0 |" in text


def test_a_run_without_an_auc_leaves_its_cell_the_mean_of_the_others() -> None:
    cell = report.Cell("ped2", "skip_frame", "lntra", "ae3d")
    runs = [report.Run(cell, seed, last, None)
            for seed, last in ((0, 90.0), (1, math.nan), (2, 94.0))]
    summary = report.summarise(runs)[cell]
    assert summary.seeds == (0, 1, 2)
    last_mean, last_std = summary.last
    assert last_mean == pytest.approx(92.0)
    assert last_std == pytest.approx(statistics.stdev([90.0, 94.0]))
