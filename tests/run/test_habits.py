"""``logger=false`` (Lightning's ``Trainer(logger=False)``) reaches Hydra as lnra's ``logger=none``."""

from __future__ import annotations

import pytest

from lnra.run.habits import lightning_habits


@pytest.mark.parametrize("spelling", ["false", "False", "null", "None", "none"])
def test_logger_off_spellings_compose_to_no_logger(compose_cfg, spelling) -> None:
    overrides = lightning_habits(["dataset=ped2", f"logger={spelling}"])
    assert overrides == ["dataset=ped2", "logger=none"]
    assert not compose_cfg(*overrides).get("logger")


def test_other_overrides_are_untouched() -> None:
    keep = ["logger=csv", "trainer.logger=false", "loggers=false", "seed=0"]
    assert lightning_habits(keep) == keep
