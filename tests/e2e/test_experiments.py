"""Sweeps: the cells of Table 1 and Fig. 5(c), the SLURM launcher config, and a whole CPU sweep of both
experiments (Fig. 5(c) through the Ray launcher) turned into the report. The Ray launcher's own tests are in
test_ray_sweep.py."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.paths import CONF, REPO, tmp_paths
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from lnra.config.options import effective_options
from lnra.data.synthetic import SyntheticSpec, generate_synthetic
from lnra.pseudo.skip import SkipFrame
from lnra.tools.report import FIG5C, TABLE1, build_report

TABLE1_CELLS = {(d, p) for d in ("ped2", "avenue", "shanghai")
                for p in ("none", "cifar_smoothmix", "skip_frame")}
FIG5C_CELLS = {("ped2", p) for p in ("cifar_smoothmix", "imagenet_smoothmix", "shanghai_smoothmix",
                                     "ped2_smoothmix", "cifar_smoothmixc", "cifar_cutmix",
                                     "cifar_mixup_patch")}


def sweep_jobs(experiment: str, *command_line: str) -> list[dict[str, str]]:
    """The jobs ``python run.py -m experiment=... <command_line>`` launches, as Hydra's BasicSweeper
    expands them: the experiment's ``hydra.sweeper.params`` first, the command line on top."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    params = [f"{key}={value}" for key, value in cfg.hydra.sweeper.params.items()]
    overrides = OverridesParser.create().parse_overrides([*params, *command_line])
    [batch] = BasicSweeper.split_arguments(overrides, None)
    return [dict(o.split("=", 1) for o in job) for job in batch]


@pytest.mark.parametrize(("experiment", "cells"), [("table1", TABLE1_CELLS), ("fig5c", FIG5C_CELLS)])
def test_experiment_sweeps_exactly_the_paper_cells_at_paper_settings(experiment: str, cells: set,
                                                                       tmp_path: Path) -> None:
    jobs = sweep_jobs(experiment)
    assert len(jobs) == len(cells)
    assert {(j["dataset"], j["pseudo"]) for j in jobs} == cells
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for job in jobs:
            cfg = compose("config", overrides=[*tmp_paths(tmp_path), f"experiment={experiment}",
                                               *(f"{k}={v}" for k, v in job.items())])
            assert (cfg.dataset.name, cfg.pseudo.name) == (job["dataset"], job["pseudo"])
            data, model = effective_options(cfg.dataset), effective_options(cfg.model)
            assert cfg.trainer.max_epochs == 60 and data["batch_size"] == 4 and model["lr"] == 1e-4
            assert (data["height"], data["width"], data["clip_len"]) == (256, 256, 16)
            for entry in cfg.pseudo.patches:
                patch = effective_options(entry)
                assert (patch["p"], patch["max_size"], patch["max_move"]) == (0.2, 0.5, 10)
            if cfg.pseudo.skip is not None:
                skip = SkipFrame(**cfg.pseudo.skip)  # the variant's file over the skip-frame defaults
                assert skip.p == 0.2 and list(skip.jump) == [2, 3, 4, 5]
            assert (job["pseudo"] == "skip_frame") == (cfg.pseudo.skip is not None)


def test_report_knows_the_cells_the_experiments_run() -> None:
    assert {(d, pseudo) for _, pseudo, auc in TABLE1 for d in auc} == TABLE1_CELLS
    assert {("ped2", pseudo) for *_, pseudo, _ in FIG5C} == FIG5C_CELLS


def test_seeds_multiply_and_the_command_line_narrows() -> None:
    jobs = sweep_jobs("table1", "seed=0,1,2")
    assert len(jobs) == 27
    assert {(j["dataset"], j["pseudo"], j["seed"]) for j in jobs} == {
        (d, p, s) for d, p in TABLE1_CELLS for s in "012"}
    assert {(j["dataset"], j["pseudo"]) for j in sweep_jobs("table1", "dataset=ped2")} == {
        c for c in TABLE1_CELLS if c[0] == "ped2"}


def test_slurm_launcher_config_composes_with_one_gpu_per_job() -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher",
                        reason="hydra-submitit-launcher is not installed (pip install -e '.[slurm]')")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.partition) == (1, 1, "gpu")


# -- a whole CPU sweep of both experiments ---------------------------------------------------------
TINY = SyntheticSpec(seed=0, size=32, train_videos=2, test_videos=2, frames_per_video=32)  # = debug/sweep


def write_cifar100(root: Path, count: int = 20) -> None:
    """A tiny CIFAR-100 in torchvision's on-disk format (``cifar-100-python/{train,test,meta}``)."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        data = {"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
                "fine_labels": [i % 100 for i in range(count)], "coarse_labels": [0] * count}
        (folder / split).write_bytes(pickle.dumps(data))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))


@pytest.mark.slow
def test_cpu_sweep_of_table1_and_fig5c_runs_every_cell_and_reports(tmp_path: Path) -> None:
    data, intruders = tmp_path / "data", tmp_path / "intruders"
    for name in ("ped2", "avenue", "shanghai"):
        generate_synthetic(data / name, TINY)
    write_cifar100(intruders / "cifar100")  # no ImageNet folder: that Fig. 5(c) job fails, the others go on
    common = [*tmp_paths(tmp_path), f"paths.data_dir={data}", f"paths.intruder_dir={intruders}",
              "debug=sweep"]

    def sweep(experiment: str, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "run.py", "-m", f"experiment={experiment}", *common,
                               f"hydra.sweep.dir={tmp_path}/sweeps/{experiment}", *extra], cwd=REPO,
                              env={**os.environ, **(env or {})}, capture_output=True, text=True,
                              timeout=1800, check=False)

    table1 = sweep("table1")
    assert table1.returncode == 0, table1.stderr[-3000:]
    fig5c = sweep("fig5c", "hydra/launcher=ray", "hydra.launcher.ray.init.num_gpus=2")
    assert fig5c.returncode == 1
    assert re.search(r"Error executing job with overrides: \[.*'pseudo=imagenet_smoothmix'",
                     fig5c.stdout + fig5c.stderr)

    runs = [json.loads(p.read_text()) for p in (tmp_path / "sweeps").rglob("results.json")]
    assert sorted((r["dataset"], r["pseudo"]) for r in runs) == sorted(
        [*TABLE1_CELLS, *(FIG5C_CELLS - {("ped2", "imagenet_smoothmix")})])
    out = build_report(tmp_path / "sweeps")
    text = (out / "report.md").read_text()
    for variant, _, auc in TABLE1:
        assert f"| {variant} | Ped2 | {auc['ped2']:.2f} |" in text
    assert "| ImageNet | SmoothMixS | 93.34 | — | — | — | — | none |" in text
    failed = text.split("without results (failed or unfinished)")[1]
    assert "| fig5c/1_ped2_imagenet_smoothmix_seed0 |" in failed and "imagenet" in failed
    assert "15 finished run(s), 1 job(s) without results" in text
