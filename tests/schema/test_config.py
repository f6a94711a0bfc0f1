"""Every config group option composes through the real Hydra configs, and the defaults are the paper's."""

import pytest
from helpers.paths import CONF
from helpers.schema import undeclared

from lnra.run.builders import build_pseudo
from lnra.schema.validate import config_mistakes

GROUP_OPTIONS = sorted(
    (group.name, option.stem)
    for group in CONF.iterdir()
    if group.is_dir() and group.name != "hydra"
    for option in group.glob("*.yaml")
)


def test_required_groups_exist():
    groups = {g for g, _ in GROUP_OPTIONS}
    assert {"dataset", "pseudo", "model", "trainer", "paths", "logger"} <= groups


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_every_group_option_composes(compose_cfg, group, option):
    cfg = compose_cfg(f"{group}={option}")
    assert [str(m) for m in config_mistakes(cfg)] == []  # the shipped values fit the schema
    assert undeclared(cfg) == [], "declare these keys in lnra/schema/groups.py (pseudo: pseudo_groups.py)"
    assert cfg.dataset.height % 16 == 0 and cfg.dataset.width % 16 == 0
    assert cfg.pseudo.name
    assert cfg.trainer.max_epochs >= 1


def test_defaults_are_the_synthetic_demo_and_the_paper_model(compose_cfg):
    cfg = compose_cfg()
    assert cfg.task == "train" and cfg.dataset.name == "synthetic" and cfg.pseudo.name == "none"
    assert cfg.model.lr == pytest.approx(1e-4) and list(cfg.model.net.widths) == [96, 128, 256, 256]
    assert cfg.dataset.batch_size == 4 and cfg.dataset.clip_len == 16


@pytest.mark.parametrize("name", ["ped2", "avenue", "shanghai"])
def test_real_datasets_default_to_paper_settings(compose_cfg, name):
    cfg = compose_cfg(f"dataset={name}", "paths.data_dir=/somewhere")
    assert (cfg.dataset.height, cfg.dataset.width, cfg.dataset.clip_len) == (256, 256, 16)
    assert cfg.trainer.max_epochs == 60 and cfg.dataset.batch_size == 4
    assert cfg.dataset.root == f"/somewhere/{name}"


def test_overrides_reach_the_objects(compose_cfg):
    cfg = compose_cfg("pseudo=skip_frame", "pseudo.skip.p=0.3", "trainer.max_epochs=7")
    pseudo = build_pseudo(cfg)
    assert pseudo.skip.p == pytest.approx(0.3) and tuple(pseudo.skip.jump) == (2, 3, 4, 5)
    assert cfg.trainer.max_epochs == 7
