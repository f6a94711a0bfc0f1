"""``trainer=ddp``: one run on several devices gives the one-device AUC; never inside a sweep."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers.runner import run_py

# Three test videos of 32 frames: 51 windows, which two ranks split unevenly (the sampler pads one).
QUICK = ["dataset.generate.test_videos=3", "trainer.accelerator=cpu"]


def psnr_column(run_dir: Path) -> list[tuple[str, int, float]]:
    with open(run_dir / "scores.csv") as f:
        return [(r["video"], int(r["frame"]), float(r["psnr"])) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_ddp_on_two_cpu_ranks_gives_the_single_device_auc(tmp_path: Path, fast_run) -> None:
    trained = fast_run(*QUICK).run_dir
    ckpt = trained / "checkpoints" / "last.ckpt"
    single = fast_run(*QUICK, "task=test", f"ckpt_path={ckpt}").run_dir
    ddp = fast_run(*QUICK, "task=test", f"ckpt_path={ckpt}", "trainer=ddp", "trainer.accelerator=cpu",
                   "trainer.devices=2").run_dir  # rank 0 alone reports its run directory

    assert (ddp / "train_ddp_process_1.log").is_file()  # rank 1 ran, in the same run directory
    assert sorted(p.name for p in tmp_path.joinpath("outputs", "runs").iterdir()) == sorted(
        p.name for p in (trained, single, ddp))  # no folder of its own for rank 1
    one, two = (json.loads((d / "results.json").read_text()) for d in (single, ddp))
    assert two["n_frames"] == one["n_frames"] == 3 * (32 - 15)
    assert two["auc_micro"] == pytest.approx(one["auc_micro"], abs=1e-9)
    assert two["auc_macro"] == pytest.approx(one["auc_macro"], abs=1e-9)
    a, b = psnr_column(single), psnr_column(ddp)
    assert [x[:2] for x in a] == [x[:2] for x in b]
    assert [x[2] for x in b] == pytest.approx([x[2] for x in a], abs=1e-4)


def test_ddp_inside_a_sweep_is_refused(tmp_path: Path) -> None:
    proc = run_py(tmp_path, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "seed=0,1",
                  multirun=True, check=False, timeout=300)
    assert proc.returncode != 0
    assert "a sweep (-m) runs each job on one device, but the trainer asks for devices=2" in proc.stderr
    assert not list(tmp_path.rglob("results.json"))
    assert not (tmp_path / "data").exists()  # refused before any data was generated
