"""Every option refuses an invalid value before anything runs, and the option reference is generated.

Each command below is the real ``python run.py`` in its own process, with many invalid options at once:
it must exit 2, print no traceback, print exactly one ``error: key=...`` line per invalid option (the
message lists all mistakes, so one process proves each key is reported), and create no directory. The
options are the parameters of the classes the config builds; every one that lnra declares is tried.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.paths import CONF, REPO, tmp_paths
from hydra import compose, initialize_config_dir

from lnra.config.options import import_target
from lnra.config.reference import markdown, sections
from lnra.pseudo.kinds import Technique
from lnra.run.settings import TASKS, RunSettings


@dataclass(frozen=True)
class Bad:
    """One invalid option of a command: the override and the options (keys) it must be reported under."""

    override: str
    keys: tuple[str, ...]


def bad(key: str, value: str) -> Bad:
    return Bad(f"{key}={value}", (key,))


def _values(pairs: dict[str, str]) -> list[Bad]:
    return [bad(k, v) for k, v in pairs.items()]


TRAINER = {"trainer.accelerator": "tpuu", "trainer.devices": "0", "trainer.num_nodes": "0",
           "trainer.strategy": "''", "trainer.precision": "17", "trainer.max_epochs": "0",
           "trainer.min_epochs": "-1", "trainer.max_steps": "-2", "trainer.limit_train_batches": "1.5",
           "trainer.limit_val_batches": "-1", "trainer.limit_test_batches": "abc",
           "trainer.overfit_batches": "2.5", "trainer.val_check_interval": "0",
           "trainer.check_val_every_n_epoch": "0", "trainer.num_sanity_val_steps": "-2",
           "trainer.log_every_n_steps": "0", "trainer.accumulate_grad_batches": "0",
           "trainer.gradient_clip_val": "-1", "trainer.deterministic": "maybe", "trainer.benchmark": "maybe",
           "trainer.fast_dev_run": "-1", "trainer.enable_progress_bar": "maybe",
           "trainer.enable_model_summary": "maybe", "trainer.inference_mode": "maybe",
           "trainer.detect_anomaly": "maybe"}


def commands(tmp: Path) -> dict[str, tuple[list[str], list[Bad]]]:
    """name -> (context overrides, invalid options). First invalid values."""
    a_file = tmp / "a_file"
    return {
        "top, paths, dataset, model, trainer, callbacks, tensorboard logger": ([], [
            *_values({"pseudo.source": "5", "task": "fly", "seed": "-1", "ckpt_path": str(tmp / "none.ckpt"),
                      "resume": str(tmp / "no_run"), "run_name": "a/b",
                          "callbacks.epoch_weights.enabled": "maybe",
                      "callbacks.epoch_weights.folder": "{a:1}"}),
            *_values({"paths.root_dir": "''", "paths.data_dir": "''", "paths.generated_dir": "''",
                      "paths.cache_dir": "''", "paths.intruder_dir": "''",
                      "paths.output_dir": str(a_file / "outputs")}),
            *_values({"dataset.cache_dir": "''",
                      "dataset.name": "a/b", "dataset.root": "''", "dataset.height": "0",
                      "dataset.width": "40",
                      "dataset.clip_len": "12", "dataset.batch_size": "0", "dataset.eval_batch_size": "-4",
                      "dataset.num_workers": "-1", "dataset.pin_memory": "maybe",
                      "dataset.cache_on_device": "maybe", "dataset.labels_path": "{a:1}",
                      "dataset.generate.seed": "-1", "dataset.generate.size": "20",
                      "dataset.generate.train_videos": "0", "dataset.generate.test_videos": "-2",
                      "dataset.generate.frames_per_video": "0"}),
            *_values({"model.net.in_channels": "0",
                      "model.net.widths": "[8,8]",
                      "model.net.frames": "0", "model.net.height": "abc", "model.net.width": "-16",
                      "model.lr": "0", "model.channels_last": "maybe", "model.compile": "maybe"}),
            *_values(TRAINER),
            *_values({"callbacks.pictures.images": "maybe",
                      "callbacks.pictures.video": "maybe", "callbacks.pictures.timelines": "maybe",
                      "callbacks.pictures.fps": "0", "callbacks.pictures.error_max": "0",
                      "callbacks.pictures.colormap": "nope", "callbacks.pictures.min_panel": "0",
                      "callbacks.pictures.localisation": "maybe"}),
            *_values({"callbacks.localisation.validation": "maybe",
                      "callbacks.localisation.sigma": "-1", "callbacks.localisation.bins": "1",
                      "callbacks.localisation.min_fraction": "2"}),
            *_values({"callbacks.window_images.count": "-1", "callbacks.pseudo_clips.clips": "-1",
                      "callbacks.scores.timelines": "-1", "callbacks.scores.histograms": "maybe",
                      "callbacks.hparams": "5", "callbacks.health": "maybe",
                      "callbacks.window_images.error_max": "0", "callbacks.window_images.colormap": "nope",
                      "callbacks.pseudo_clips.error_max": "0", "callbacks.pseudo_clips.colormap": "nope",
                      "callbacks.pseudo_clips.seed": "-1", "callbacks.preview.seed": "-1",
                      "callbacks.preview.clips": "0", "callbacks.progress.every_n_steps": "0",
                      "callbacks.progress.every_s": "0"}),
            *_values({"logger.name": "a/b", "logger.version": "{a:1}",
                      "logger.default_hp_metric": "maybe"}),
        ]),
        "pseudo with skip frames and textures": (["pseudo=synthetic_smoothmix"], [
            bad("pseudo.name", "''"),
            Bad("pseudo.skip={p:1.5,jump:[0,2]}", ("pseudo.skip.p", "pseudo.skip.jump")),
            *_values({"pseudo.technique": "blend", "pseudo.patches.0.technique": "blend",
                      "pseudo.patches.0.p": "-0.1", "pseudo.patches.0.max_size": "0",
                      "pseudo.patches.0.max_move": "-3", "pseudo.patches.0.source": "5",
                      "pseudo.patches.0.name": "{a:1}",
                      "pseudo.source.count": "0", "pseudo.source.size": "1",
                      "pseudo.source.seed": "-1"}),
        ]),
        "settings that must be entries, dicts or lists, CIFAR-100 intruders, CSV logger, the memory": (
            ["pseudo=cifar_smoothmix", "logger=csv", "model=memae"], [
                *_values({"callbacks.epoch_weights": "3"}),
                *_values({"dataset.generate": "4", "pseudo.skip": "3", "pseudo.patches": "3",
                          "pseudo.source.root": "''",
                          "pseudo.source.download": "maybe", "pseudo.source.verify_md5": "maybe",
                          "pseudo.source.max_images": "0", "pseudo.source.seed": "-1",
                          "logger.name": "''", "logger.version": "{a:1}",
                          "model.net.memory_items": "0", "model.net.shrink_threshold": "1",
                          "model.net.entropy_weight": "-1"}),
            ]),
        "image-folder intruders, unknown keys and group options": (["pseudo=imagenet_smoothmix"], [
            *_values({"pseudo.source.root": "''",
                      "pseudo.source.crop": "maybe", "pseudo.source.workers": "-1",
                      "experiment": "nope", "debug": "nope", "dataset.heigth": "256", "sed": "1"}),
        ]),
        "classes that cannot be imported": (["pseudo=synthetic_smoothmix"], [
            *_values({"dataset._target_": "''", "model._target_": "''",
                      "model.net._target_": "lnra.nothing.Net",
                      "callbacks.pictures._target_": "''", "callbacks.localisation._target_": "Nothing",
                      "logger._target_": "''", "pseudo.patches.0._target_": "''",
                          "pseudo.source._target_": "''",
                      "loss._target_": "lnra.method.losses.NoSuchLoss", "trainer._target_": "''"}),
        ]),
        "video intruders": (["pseudo=ped2_smoothmix"], [
            *_values({"pseudo.source.name": "''", "pseudo.source.root": "''",
                      "pseudo.source.cache_dir": "''", "pseudo.source.clip_len": "0"}),
        ]),
    }


# A second invalid value of each option, where it has one (mostly the wrong type where the first was out
# of range, or the other end of a range): run with -m slow.
SECOND_VALUES: dict[str, tuple[list[str], dict[str, str]]] = {
    "top, paths, dataset, model, trainer, callbacks": ([], {
        "task": "''", "seed": "abc", "run_name": "''", "paths.output_dir": "/proc/lnra_cannot_be_here",
        "dataset.height": "abc", "dataset.width": "-16", "dataset.clip_len": "0", "dataset.batch_size": "two",
        "dataset.eval_batch_size": "0", "dataset.num_workers": "1.5",
        "dataset.generate.size": "0", "dataset.generate.seed": "4294967296",
        "dataset.generate.train_videos": "x", "model.net.widths": "[8,8,8,0]", "model.lr": "-1",
        "model.net.in_channels": "x", "trainer.devices": "[-1]", "trainer.precision": "fp8",
        "trainer.max_epochs": "-2", "trainer.limit_val_batches": "2.0", "trainer.val_check_interval": "1.5",
        "trainer.gradient_clip_val": "x", "trainer.fast_dev_run": "x", "trainer.deterministic": "2",
        "callbacks.pictures.fps": "x", "callbacks.pictures.error_max": "-0.5",
            "callbacks.pictures.min_panel": "x"}),
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
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.run([sys.executable, str(REPO / "run.py"), *flags, *overrides], cwd=tmp,
                          capture_output=True, text=True, timeout=300, env={**env, "OMP_NUM_THREADS": "1"})
    return Outcome(proc.returncode, proc.stderr, sorted(_tree(tmp) - before))


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


# Whole lines, as the user reads them: a range, a type, an unknown group option, an unknown key, and a
# refusal in Lightning's own words.
EXACT = {
    "error: dataset.height=0: must be a positive multiple of 16 (e.g. 256)",
    "error: model.net.height=abc: must be a positive multiple of 16 (e.g. 256)",
    "error: seed=-1: must be an integer in [0, 4294967295]",
    "error: experiment=nope: no such option; choose one of family, fig5c, memae, ped2_small, steal, table1",
    "error: dataset.heigth=256: no such option (did you mean dataset.height?)",
    "error: trainer.devices=0: must be an integer >= 1 or one of -1 | auto or a list (each an integer >= 0) "
    "or null",
    "error: trainer.accelerator=tpuu: You selected an invalid accelerator name: `accelerator='tpuu'`. "
    "Available names are: auto, cpu, cuda, mps, tpu.",
}


@pytest.mark.parametrize("name", list(commands(Path("/x"))))
def test_every_invalid_option_of_a_command_is_one_error_line(tmp_path, name):
    context, cases = commands(tmp_path)[name]
    outcome = run_refused(tmp_path, [*context, *(case.override for case in cases)])
    lines = assert_each_reported_once(outcome, cases)
    for line in EXACT:
        if any(line.startswith(f"error: {case.override}: ") for case in cases):
            before, names_at, names = line.partition("Available names are: ")  # in an order of Lightning's
            key = before + names_at
            same_names = [found for found in lines if found.startswith(key) and sorted(
                found[len(key):].rstrip(".").split(", ")) == sorted(names.rstrip(".").split(", "))]
            assert same_names if names else line in lines


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SECOND_VALUES))
def test_a_second_invalid_value_of_each_option(tmp_path, name):
    context, pairs = SECOND_VALUES[name]
    cases = _values(pairs)
    outcome = run_refused(tmp_path, [*context, *(case.override for case in cases)])
    assert_each_reported_once(outcome, cases)


def _declared_by_lnra(title: str) -> set[str] | None:
    """The option names a section's class declares in lnra's own code (None: the run's settings), so a
    subclass of Lightning's class is held to the options it adds, not to all of Lightning's."""
    if "`" not in title:
        return None
    target = import_target(title.split("`")[1])
    if not target.__module__.startswith("lnra.") or "__init__" not in vars(target):
        return set()
    return set(inspect.signature(vars(target)["__init__"]).parameters)


def test_every_option_lnra_declares_is_tried():
    tried = {key.replace(".0.", ".N.") for _, cases in commands(Path("/x")).values() for case in cases
             for key in case.keys}
    tried |= {key.split("=")[0] for _, cases in commands(Path("/x")).values() for case in cases
              for key in [case.override]}
    for title, rows in sections(CONF, RunSettings):
        declared = _declared_by_lnra(title)
        keys = {row[0] for row in rows if declared is None or row[0].rsplit(".", 1)[-1] in declared}
        if declared is None:  # the run's own settings: their entries (dataset, model, ...) are groups
            keys = {k for k in keys if k not in ("dataset", "model", "loss", "trainer", "logger",
                                                 "callbacks")}
        missing = {k for k in keys if not any(t == k or t.startswith(f"{k}.") for t in tried)}
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


def test_any_trainer_argument_is_an_option_checked_by_lightnings_signature(compose_cfg):
    from lnra.config.options import config_mistakes

    cfg = compose_cfg("trainer.max_time=00:00:10:00", "trainer.limit_predict_batches=3")
    assert cfg.trainer.max_time == "00:00:10:00" and config_mistakes(cfg, RunSettings) == []
    refused = config_mistakes(compose_cfg("trainer.sync_batchnorm=maybe"), RunSettings)
    assert [str(m) for m in refused] == ["trainer.sync_batchnorm=maybe: must be true or false"]


def test_the_constants_match_the_code():
    from lnra.pseudo.patch import RULES
    from lnra.run.tasks import TASKS as TASK_FUNCTIONS

    assert set(typing.get_args(Technique)) == set(RULES)
    assert set(TASKS) == set(TASK_FUNCTIONS)


def _assert_lists_every_option(text: str) -> None:
    assert "  dataset.height (a positive multiple of 16 (e.g. 256); default 256): frame height after " \
        "resizing" in text
    assert "  pseudo.patches.N.technique (one of smoothmix_s | smoothmix_c | cutmix | mixup_patch; default " \
        "required)" in text
    for _, rows in sections(CONF, RunSettings):
        assert all(f"  {row[0]} (" in text for row in rows)


def test_help_template_lists_the_options_from_the_reference():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", return_hydra_config=True)
    _assert_lists_every_option(cfg.hydra.help.template)


def test_help_command_lists_the_options_without_torch():  # in the default run: any option's help can break it
    code = ("import runpy, sys; sys.argv = ['run.py', '--help']; "
            "runpy.run_path('run.py', run_name='__main__'); "
            "assert 'torch' not in sys.modules, 'run.py --help imported torch'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    _assert_lists_every_option(proc.stdout)


def test_the_option_reference_is_generated_from_the_signatures():
    text = (REPO / "docs" / "options.md").read_text()
    stale = "stale: python -m lnra.config.reference > docs/options.md"
    assert text == markdown(CONF, RunSettings), stale


def test_the_familys_options_are_refused_before_training(tmp_path):
    """STEAL's loss without a pseudo anomaly, and impossible memory settings: one line each, exit 2."""
    outcome = run_refused(tmp_path, ["loss=steal", "model=memae", "model.net.memory_items=0",
                                     "model.net.shrink_threshold=1.5", "model.net.entropy_weight=-1"])
    assert outcome.rc == 2 and not outcome.new_paths, outcome.stderr
    assert outcome.stderr.splitlines() == [
        "error: model.net.memory_items=0: must be an integer >= 1",
        "error: model.net.shrink_threshold=1.5: must be a finite number in [0, 1)",
        "error: model.net.entropy_weight=-1: must be a finite number >= 0",
        "error: loss=StealLoss: needs pseudo anomalies, but pseudo=none has none with p > 0: add one "
        "(pseudo=skip_frame, or experiment=steal for its published setting)",
    ]


@dataclass
class _Point:
    x: int = 0


def _draw(points: list[_Point]) -> None:
    """A target whose option is a list of settings: an unknown key there is named, not a crash."""


def test_a_misspelled_key_inside_settings_is_named_with_a_guess(compose_cfg):
    from lnra.config.options import config_mistakes, refusals

    cfg = compose_cfg("pseudo=skip_frame", "pseudo.skip.pp=1", "dataset.generate.train_video=3")
    assert sorted(str(m) for m in config_mistakes(cfg, RunSettings)) == [
        "dataset.generate.train_video=3: no such option (did you mean dataset.generate.train_videos?)",
        "pseudo.skip.pp=1: no such option (did you mean pseudo.skip.p?)"]
    assert [str(m) for m in refusals(_draw, {"points": [{"y": 1}]})] == ["points.0.y=1: no such option"]
