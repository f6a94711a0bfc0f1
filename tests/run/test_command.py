"""``python run.py``'s command line: how overrides reach Hydra, and the lines a wrong group choice gets."""

from __future__ import annotations

import pytest
from helpers.paths import CONF

from lnra.run.command import command_mistakes, prepare, variants


@pytest.mark.parametrize("spelling", ["false", "False", "null", "None", "none"])
def test_logger_off_spellings_compose_to_no_logger(compose_cfg, spelling) -> None:
    """``logger=false`` (Lightning's ``Trainer(logger=False)``) reaches Hydra as lnra's ``logger=none``."""
    overrides = prepare(["dataset=ped2", f"logger={spelling}"], CONF)
    assert overrides == ["dataset=ped2", "logger=none"]
    assert not compose_cfg(*overrides).get("logger")


def test_other_overrides_are_untouched_but_plain_keys_may_be_set_whatever_a_file_mentions() -> None:
    keep = ["logger=csv", "+x=1", "~y", "++z=2", "hydra.run.dir=d", "pseudo/source=video", "dataset=ped2"]
    assert prepare(keep, CONF) == keep
    assert prepare(["trainer.logger=false", "loggers=false", "seed=0"], CONF) == [
        "++trainer.logger=false", "++loggers=false", "++seed=0"]


def test_wrong_group_choices_are_named_and_the_rest_kept() -> None:
    lines, good = command_mistakes(["dataset=ped", "seed=1", "pseudo=none,skip", "experiment=table1"], CONF,
                                   multirun=True)
    assert lines == [
        "dataset=ped: no such option (did you mean ped2?); choose one of avenue, ped2, shanghai, synthetic",
        "pseudo=skip: no such option (did you mean skip_frame?); choose one of cifar_cutmix, "
        "cifar_mixup_patch, cifar_smoothmix, cifar_smoothmixc, imagenet_smoothmix, none, ped2_smoothmix, "
        "shanghai_smoothmix, skip_frame, synthetic_smoothmix"]
    assert good == ["seed=1", "experiment=table1"]
    lines, _ = command_mistakes(["seed=1,2"], CONF, multirun=False)
    assert lines == ["seed=1,2: several values sweep only with -m (python run.py -m seed=1,2)"]


def test_a_sweep_is_checked_one_swept_value_at_a_time() -> None:
    assert list(variants(["a=1", "b=2,3", "c=4,5"])) == [["a=1", "b=2"], ["a=1", "b=3"], ["a=1", "c=4"],
                                                         ["a=1", "c=5"]]
