"""The configuration schema: every option of every group refuses an invalid value before anything runs.

Each command below is the real ``python run.py`` in its own process, with many invalid options at once:
it must exit 2, print no traceback, print exactly one ``error: key=...`` line per invalid option (the
message lists all mistakes, so one process proves each key is reported), and create no directory. A
refused command imports neither torch nor Lightning (the pre-flight runs before the task function), so
each process takes ~2-5 s on the shared 2-core machine.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.paths import REPO, tmp_paths
from hydra import compose, initialize_config_dir

from lnra.schema.docs import END, START, markdown, sections
from lnra.schema.groups import SPATIAL_FACTOR, TASKS, TEMPORAL_FACTOR
from lnra.schema.pseudo_groups import PATCH_TECHNIQUES


@dataclass(frozen=True)
class Bad:
    """One invalid option of a command: the override and the options (keys) it must be reported under."""

    override: str
    keys: tuple[str, ...]


def bad(key: str, value: str) -> Bad:
    return Bad(f"{key}={value}", (key,))


def _values(pairs: dict[str, str]) -> list[Bad]:
    return [bad(k, v) for k, v in pairs.items()]


# Section of the schema docs -> the context (group options) its options need, for the coverage check.
def commands(tmp: Path) -> dict[str, tuple[list[str], list[Bad], tuple[str, ...]]]:
    """name -> (context overrides, invalid options, schema sections they cover). First invalid values."""
    a_file = tmp / "a_file"
    return {
        "top, paths, dataset, model, trainer, viz, tensorboard logger": ([], [
            *_values({"pseudo.source": "5", "task": "fly", "seed": "-1", "ckpt_path": str(tmp / "none.ckpt"),
                      "resume": str(tmp / "no_run"), "run_name": "a/b", "checkpoint.every_epoch": "maybe"}),
            *_values({"paths.root_dir": "''", "paths.data_dir": "''", "paths.generated_dir": "''",
                      "paths.cache_dir": "''", "paths.intruder_dir": "''",
                      "paths.output_dir": str(a_file / "outputs")}),
            *_values({"dataset._target_": "''", "dataset.cache_dir": "''",
                      "dataset.name": "a/b", "dataset.root": "''", "dataset.height": "0",
                      "dataset.width": "40",
                      "dataset.clip_len": "12", "dataset.batch_size": "0", "dataset.eval_batch_size": "-4",
                      "dataset.num_workers": "-1", "dataset.pin_memory": "maybe",
                      "dataset.cache_on_device": "maybe", "dataset.labels_path": "{a:1}",
                      "dataset.max_epochs": "0", "dataset.generate.seed": "-1", "dataset.generate.size": "20",
                      "dataset.generate.train_videos": "0", "dataset.generate.test_videos": "-2",
                      "dataset.generate.frames_per_video": "0"}),
            *_values({"model._target_": "''", "model.net._target_": "''", "model.net.in_channels": "0",
                      "model.net.widths": "[8,8]",
                      "model.net.frames": "0", "model.net.height": "abc", "model.net.width": "-16",
                      "model.lr": "0", "model.channels_last": "maybe", "model.compile": "maybe"}),
            *_values({"trainer.accelerator": "tpuu", "trainer.devices": "0", "trainer.num_nodes": "0",
                      "trainer.strategy": "''", "trainer.precision": "17", "trainer.max_epochs": "0",
                      "trainer.min_epochs": "-1", "trainer.max_steps": "-2",
                      "trainer.limit_train_batches": "1.5",
                      "trainer.limit_val_batches": "-1", "trainer.limit_test_batches": "abc",
                      "trainer.overfit_batches": "2.5", "trainer.val_check_interval": "0",
                      "trainer.check_val_every_n_epoch": "0", "trainer.num_sanity_val_steps": "-2",
                      "trainer.log_every_n_steps": "0", "trainer.accumulate_grad_batches": "0",
                      "trainer.gradient_clip_val": "-1", "trainer.deterministic": "maybe",
                      "trainer.benchmark": "maybe", "trainer.fast_dev_run": "-1",
                      "trainer.enable_progress_bar": "maybe", "trainer.enable_model_summary": "maybe",
                      "trainer.inference_mode": "maybe", "trainer.detect_anomaly": "maybe"}),
            *_values({"viz._target_": "''", "viz.images": "maybe", "viz.video": "maybe",
                      "viz.timelines": "maybe",
                      "viz.fps": "0", "viz.error_max": "0", "viz.colormap": "nope", "viz.min_panel": "0",
                      "viz.localisation": "maybe"}),
            *_values({"localisation._target_": "''", "localisation.enabled": "maybe",
                      "localisation.validation": "maybe", "localisation.sigma": "-1",
                      "localisation.bins": "1",
                      "localisation.min_fraction": "2"}),
            *_values({"monitor.windows": "-1", "monitor.pseudo_clips": "-1", "monitor.timelines": "-1",
                      "monitor.histograms": "maybe", "monitor.hparams": "maybe", "monitor.health": "maybe",
                      "monitor.error_max": "0", "monitor.colormap": "nope", "monitor.localisation": "maybe"}),
            *_values({"logger._target_": "''", "logger.name": "a/b", "logger.version": "{a:1}",
                      "logger.default_hp_metric": "maybe"}),
        ], ("top level", "paths", "dataset", "pseudo", "model", "trainer", "viz", "logger (tensorboard)",
            "localisation", "monitor")),
        "pseudo with skip frames and textures": (["pseudo=synthetic_smoothmix"], [
            bad("pseudo.name", "''"),
            Bad("pseudo.skip={p:1.5,jump:[0,2]}", ("pseudo.skip.p", "pseudo.skip.jump")),
            *_values({"pseudo.technique": "blend", "pseudo.patches.0._target_": "''",
                      "pseudo.patches.0.technique": "blend",
                      "pseudo.patches.0.p": "-0.1", "pseudo.patches.0.max_size": "0",
                      "pseudo.patches.0.max_move": "-3", "pseudo.patches.0.source": "5",
                      "pseudo.source._target_": "''", "pseudo.source.count": "0", "pseudo.source.size": "1",
                      "pseudo.source.seed": "-1"}),
        ], ("pseudo", "pseudo.source (textures)")),
        "settings that must be dicts or lists, CIFAR-100 intruders, CSV logger": (
            ["pseudo=cifar_smoothmix", "logger=csv"], [
                *_values({"checkpoint": "3"}),
                *_values({"dataset.generate": "4", "pseudo.skip": "3", "pseudo.patches": "3",
                          "pseudo.source._target_": "''", "pseudo.source.root": "''",
                          "pseudo.source.download": "maybe", "pseudo.source.verify_md5": "maybe",
                          "pseudo.source.max_images": "0", "pseudo.source.seed": "-1",
                          "logger._target_": "''", "logger.name": "''", "logger.version": "{a:1}"}),
            ], ("top level", "dataset", "pseudo", "pseudo.source (cifar100)", "logger (csv)")),
        "image-folder intruders, unknown keys and group options": (["pseudo=imagenet_smoothmix"], [
            *_values({"pseudo.source._target_": "''", "pseudo.source.root": "''",
                      "pseudo.source.crop": "maybe", "pseudo.source.workers": "-1",
                      "experiment": "nope", "debug": "nope", "dataset.heigth": "256", "sed": "1"}),
        ], ("pseudo.source (image_folder)",)),
        "video intruders": (["pseudo=ped2_smoothmix"], [
            *_values({"pseudo.source._target_": "''", "pseudo.source.name": "''", "pseudo.source.root": "''",
                      "pseudo.source.cache_dir": "''", "pseudo.source.clip_len": "0"}),
        ], ("pseudo.source (video)",)),
    }


# A second invalid value of each option, where it has one (mostly the wrong type where the first was out
# of range, or the other end of a range): run with -m slow.
SECOND_VALUES: dict[str, tuple[list[str], dict[str, str]]] = {
    "top, paths, dataset, model, trainer, viz": ([], {
        "task": "''", "seed": "abc", "run_name": "''", "paths.output_dir": "/proc/lnra_cannot_be_here",
        "dataset.height": "abc", "dataset.width": "-16", "dataset.clip_len": "0", "dataset.batch_size": "two",
        "dataset.eval_batch_size": "0", "dataset.num_workers": "1.5", "dataset.max_epochs": "x",
        "dataset.generate.size": "0", "dataset.generate.seed": "4294967296",
        "dataset.generate.train_videos": "x", "model.net.widths": "[8,8,8,0]", "model.lr": "-1",
        "model.net.in_channels": "x", "trainer.devices": "[-1]", "trainer.precision": "fp8",
        "trainer.max_epochs": "-2", "trainer.limit_val_batches": "2.0", "trainer.val_check_interval": "1.5",
        "trainer.gradient_clip_val": "x", "trainer.fast_dev_run": "x", "trainer.deterministic": "2",
        "viz.fps": "x", "viz.error_max": "-0.5", "viz.min_panel": "x"}),
    "pseudo": (["pseudo=synthetic_smoothmix"], {
        "pseudo.patches.0.p": "1.5", "pseudo.patches.0.max_size": "1.5", "pseudo.patches.0.max_move": "2.5",
        "pseudo.patches.0.technique": "''", "pseudo.technique": "5", "pseudo.source.count": "x",
        "pseudo.source.size": "x"}),
    "skip frames": (["pseudo=skip_frame"], {"pseudo.skip.p": "x", "pseudo.skip.jump": "[]"}),
}


@dataclass
class Outcome:
    rc: int
    stderr: str
    new_paths: list[Path]


def _tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def run_refused(tmp: Path, args: list[str]) -> Outcome:
    """``python run.py`` with every file it could write under ``tmp``; what it printed and created."""
    (tmp / "a_file").write_text("a file where a folder is expected")
    before = _tree(tmp)
    flags = [a for a in args if a.startswith("-")]  # Hydra's flags come before the overrides
    overrides = [*tmp_paths(tmp), *(a for a in args if not a.startswith("-"))]
    proc = subprocess.run([sys.executable, str(REPO / "run.py"), *flags, *overrides], cwd=tmp,
                          capture_output=True, text=True, timeout=300,
                          env={**_clean_env(), "OMP_NUM_THREADS": "1"})
    return Outcome(proc.returncode, proc.stderr, sorted(_tree(tmp) - before))


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}


def assert_each_reported_once(outcome: Outcome, cases: list[Bad]) -> list[str]:
    assert outcome.rc == 2, outcome.stderr[-3000:]
    assert "Traceback" not in outcome.stderr, outcome.stderr[-3000:]
    assert not outcome.new_paths, f"created {outcome.new_paths}"
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert all(line.startswith("error: ") for line in lines), lines
    for case in cases:
        for key in case.keys:
            named = [line for line in lines if line.startswith(f"error: {key}=")]
            assert len(named) == 1, f"{key}: expected one line, got {named} in\n" + "\n".join(lines)
    expected = sum(len(case.keys) for case in cases)
    assert len(lines) == expected, f"{len(lines)} lines for {expected} mistakes:\n" + "\n".join(lines)
    return lines


# Whole lines, as the user reads them: a range, a type (refused while composing), an unknown group option
# and an unknown key.
EXACT = {
    "error: dataset.height=0: must be a positive multiple of 16 (e.g. 256)",
    "error: model.net.height=abc: must be an integer",
    "error: experiment=nope: no such option; choose one of fig5c, ped2_small, table1",
    "error: dataset.heigth=256: no such option (did you mean dataset.height?)",
    "error: trainer.devices=0: must be a count >= 1, -1 (all), auto, or a list of device indices",
}


@pytest.mark.parametrize("name", list(commands(Path("/x"))))
def test_every_invalid_option_of_a_command_is_one_error_line(tmp_path, name):
    context, cases, _ = commands(tmp_path)[name]
    outcome = run_refused(tmp_path, [*context, *(case.override for case in cases)])
    lines = assert_each_reported_once(outcome, cases)
    for line in EXACT:
        if any(line.startswith(f"error: {case.override}: ") for case in cases):
            assert line in lines


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SECOND_VALUES))
def test_a_second_invalid_value_of_each_option(tmp_path, name):
    context, pairs = SECOND_VALUES[name]
    cases = _values(pairs)
    outcome = run_refused(tmp_path, [*context, *(case.override for case in cases)])
    assert_each_reported_once(outcome, cases)


def test_every_option_of_the_schema_is_tried():
    covered: dict[str, set[str]] = {}
    for _, cases, titles in commands(Path("/x")).values():
        keys = {key.replace(".0.", ".N.") for case in cases for key in case.keys}
        for title in titles:
            covered.setdefault(title, set()).update(keys)
    for title, rows in sections():
        missing = {row.key for row in rows} - covered.get(title, set())
        assert not missing, f"{title}: no invalid value tried for {sorted(missing)}"


def test_relations_between_options(tmp_path):
    outcome = run_refused(tmp_path, ["pseudo=synthetic_smoothmix", "pseudo.patches.0.p=0.9",
                                     "pseudo.skip={p:0.2,jump:[2]}", "dataset.generate.frames_per_video=8",
                                     "task=test"])
    assert outcome.rc == 2 and not outcome.new_paths, outcome.stderr
    lines = outcome.stderr.splitlines()
    assert lines == [
        "error: ckpt_path=null: task=test needs a checkpoint: add ckpt_path=PATH (lnra .ckpt or the "
        "paper's .pth)",
        "error: pseudo.skip.p+pseudo.patches.0.p=1.100: pseudo-anomaly probabilities sum to 1.100 > 1; each "
        "sample gets at most one type, so they must sum to at most 1",
        "error: dataset.generate.frames_per_video=8: must be at least dataset.clip_len=16 (a video must hold "
        "one clip)",
    ]


@pytest.mark.slow
def test_a_sweep_is_checked_value_by_value(tmp_path):
    outcome = run_refused(tmp_path, ["-m", "seed=0,abc", "dataset.height=32,40"])
    assert_each_reported_once(outcome, [bad("seed", "abc"), bad("dataset.height", "40")])


def test_trainer_arguments_outside_the_schema_pass_with_plus(compose_cfg):
    from lnra.schema.validate import config_mistakes

    cfg = compose_cfg("+trainer.max_time=00:00:10:00", "+trainer.limit_predict_batches=3")
    assert cfg.trainer.max_time == "00:00:10:00" and config_mistakes(cfg) == []


def test_the_constants_match_the_code():
    from lnra.method import shape
    from lnra.pseudo.patch_masks import RULES
    from lnra.run.tasks import TASKS as TASK_FUNCTIONS

    assert (SPATIAL_FACTOR, TEMPORAL_FACTOR) == (shape.SPATIAL_FACTOR, shape.TEMPORAL_FACTOR)
    assert set(PATCH_TECHNIQUES) == set(RULES)
    assert set(TASKS) == set(TASK_FUNCTIONS)


def _assert_lists_every_option(text: str) -> None:
    assert "  dataset.height (int, positive multiple of 16): frame height after resizing" in text
    assert "  pseudo.patches.N.technique (str, smoothmix_s | smoothmix_c | cutmix | mixup_patch)" in text
    for _, rows in sections():
        assert all(f"  {row.key} (" in text for row in rows)


def test_help_template_lists_the_options_from_the_schema():
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", return_hydra_config=True)
    _assert_lists_every_option(cfg.hydra.help.template)


def test_every_exact_message_is_tried():
    overrides = {case.override for _, cases, _ in commands(Path("/x")).values() for case in cases}
    assert all(any(line.startswith(f"error: {o}: ") for o in overrides) for line in EXACT)


def test_help_command_lists_the_options():  # 2-3 s: in the default run, as any option's doc can break it
    proc = subprocess.run([sys.executable, str(REPO / "run.py"), "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    _assert_lists_every_option(proc.stdout)


def test_readme_table_is_generated_from_the_schema():
    readme = (REPO / "README.md").read_text()
    assert START in readme and END in readme
    table = readme.split(START, 1)[1].split(END, 1)[0]
    assert table.strip() == markdown().strip(), "stale table: python -m lnra.schema --write README.md"
