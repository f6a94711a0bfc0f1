"""docs/extending.md, done: each of its four extensions (a pseudo anomaly, a model, a callback, a dataset) is
the Python file and the config file the page shows, written to a folder outside the package, found through
the config's ``_target_`` and ``hydra.searchpath``, and trained in a real ``debug=fast`` run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from helpers.data import write_video
from helpers.paths import FAST_RUN, REPO
from helpers.runner import child_env, run_dir_of, run_py

PAGE = (REPO / "docs" / "extending.md").read_text()


def page_files() -> dict[str, str]:
    """Every file the page shows: ``name`` → its text (the code block right after "`name`:" or
    "`name` (...):")."""
    shown = r"`([\w/.]+\.(?:py|yaml))`(?: \([^)]*\))?:\n\n```(?:python|yaml)\n(.*?)```"
    blocks = re.findall(shown, PAGE, re.S)
    return dict(blocks)


def install(tmp_path: Path, *names: str) -> list[str]:
    """Write the page's files into ``tmp_path`` (Python files on the path, configs under ``conf/``); the
    overrides that make a run find them."""
    files = page_files()
    for name in names:
        path = tmp_path / "ext" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name])
    return [f"hydra.searchpath=[file://{tmp_path}/ext/conf]"]


def run(tmp_path: Path, *overrides: str):
    proc = run_py(tmp_path, *overrides, env=child_env({"PYTHONPATH": str(tmp_path / "ext")}))
    return proc, run_dir_of(proc)


def test_the_page_shows_a_python_file_and_a_config_file_for_each_of_the_four() -> None:
    files = page_files()
    assert {name for name in files if name.endswith(".py")} == {
        "blackout.py", "tinynet.py", "framecount.py", "flatvideos.py"}
    assert {name for name in files if name.endswith(".yaml")} == {
        "conf/pseudo/blackout.yaml", "conf/model/tiny.yaml", "conf/callbacks/counting.yaml",
        "conf/dataset/flat.yaml"}


def test_a_pseudo_anomaly_of_ones_own(tmp_path: Path) -> None:
    found = install(tmp_path, "blackout.py", "conf/pseudo/blackout.yaml")
    _, run_dir = run(tmp_path, *FAST_RUN, *found, "pseudo=blackout", "logger=csv",
                     "trainer.log_every_n_steps=1")
    metrics = (run_dir / "csv" / "metrics.csv").read_text()
    assert "train/loss_pseudo" in metrics.splitlines()[0]  # blacked-out samples reached the loss
    assert json.loads((run_dir / "results.json").read_text())["pseudo"] == "blackout"
    refused = run_py(tmp_path, *FAST_RUN, *found, "pseudo=blackout", "pseudo.patches.0.side=0", check=False,
                     env=child_env({"PYTHONPATH": str(tmp_path / "ext")}))
    assert refused.returncode == 2 and refused.stderr.strip() == \
        "error: pseudo.patches.0.side=0: must be an integer >= 1"  # its options are checked like lnra's


def test_a_model_of_ones_own(tmp_path: Path) -> None:
    found = install(tmp_path, "tinynet.py", "conf/model/tiny.yaml")
    proc, run_dir = run(tmp_path, *[o for o in FAST_RUN if not o.startswith("model.")], *found, "model=tiny")
    assert "model: TinyNet" in (run_dir / "run.log").read_text()
    assert re.search(r"^AUC: \d+\.\d\d%", proc.stdout, re.M)


def test_a_callback_of_ones_own(tmp_path: Path) -> None:
    found = install(tmp_path, "framecount.py", "conf/callbacks/counting.yaml")
    _, run_dir = run(tmp_path, *FAST_RUN, *found, "callbacks=counting")
    counts = json.loads((run_dir / "frame_count.json").read_text())
    assert counts == {"01": 32 - 15, "02": 32 - 15}  # every window of the two 32-frame test videos


def test_a_dataset_of_ones_own(tmp_path: Path) -> None:
    found = install(tmp_path, "flatvideos.py", "conf/dataset/flat.yaml")
    root = tmp_path / "data" / "flat"
    rng = np.random.default_rng(0)
    for split, videos in (("training", 2), ("testing", 2)):
        for v in range(videos):
            frames = rng.integers(0, 255, (24, 32, 32), dtype=np.uint8)
            write_video(root / split, frames, [f"v{v}_{t:03d}.png" for t in range(24)])
    np.save(root / "frame_labels_flat.npy", np.r_[np.zeros(30), np.ones(18)].astype(np.uint8)[None])
    proc, run_dir = run(tmp_path, "debug=fast", "model.net.widths=[8,8,8,8]", *found, "dataset=flat",
                        f"paths.data_dir={tmp_path}/data")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["dataset"] == "flat" and results["n_frames"] == 2 * (24 - 15)
    assert "dataset flat, pseudo none, 32x32" in proc.stdout + (run_dir / "run.log").read_text()
