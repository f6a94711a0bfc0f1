"""Every config group option composes through the real Hydra configs, and the defaults are the paper's."""

import pytest
from helpers.paths import CONF
from omegaconf import OmegaConf

from lnra.config.options import config_mistakes, effective_options, import_target, options_of
from lnra.pseudo.skip import SkipFrame
from lnra.run.builders import build_datamodule
from lnra.run.settings import RunSettings

GROUP_OPTIONS = sorted(
    (group.name, option.stem)
    for group in CONF.iterdir()
    if group.is_dir() and group.name != "hydra"
    for option in group.glob("*.yaml")
)


def test_required_groups_exist():
    groups = {g for g, _ in GROUP_OPTIONS}
    assert {"dataset", "pseudo", "model", "loss", "trainer", "logger", "callbacks"} <= groups


def _entries(node, key=""):
    """Every ``_target_`` entry of a composed config, with its key."""
    from omegaconf import DictConfig, ListConfig

    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield key, node
        for child in node:
            yield from _entries(node[child], f"{key}.{child}".lstrip("."))
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node):
            yield from _entries(item, f"{key}.{i}")


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_every_group_option_composes(compose_cfg, group, option):
    cfg = compose_cfg(f"{group}={option}")
    assert [str(m) for m in config_mistakes(cfg, RunSettings)] == []  # the shipped values are allowed
    for key, entry in _entries(cfg):  # and each file sets only options its class has (no restated default)
        options = options_of(import_target(entry._target_))
        for name in entry:
            if name.startswith("_") or name not in options or OmegaConf.is_interpolation(entry, name):
                continue
            default = options[name].default
            assert entry.get(name) != default or entry[name] is None, f"{key}.{name} restates its default"
    data = effective_options(cfg.dataset)
    assert data["height"] % 16 == 0 and data["width"] % 16 == 0
    assert cfg.pseudo.name
    assert cfg.trainer.max_epochs >= 1


def test_defaults_are_the_synthetic_demo_and_the_paper_model(compose_cfg):
    cfg = compose_cfg()
    assert cfg.task == "train" and cfg.dataset.name == "synthetic" and cfg.pseudo.name == "none"
    model, net, data = (effective_options(node) for node in (cfg.model, cfg.model.net, cfg.dataset))
    assert model["lr"] == pytest.approx(1e-4) and list(net["widths"]) == [96, 128, 256, 256]
    assert data["batch_size"] == 4 and data["clip_len"] == 16
    assert cfg.trainer.max_epochs == 4  # the demo's epochs; the real datasets train the paper's 60


@pytest.mark.parametrize("name", ["ped2", "avenue", "shanghai"])
def test_real_datasets_default_to_paper_settings(compose_cfg, name):
    cfg = compose_cfg(f"dataset={name}", "paths.data_dir=/somewhere")
    data = effective_options(cfg.dataset)
    assert (data["height"], data["width"], data["clip_len"]) == (256, 256, 16)
    assert cfg.trainer.max_epochs == 60 and data["batch_size"] == 4
    assert cfg.dataset.root == f"/somewhere/{name}"


def test_overrides_reach_the_objects(compose_cfg):
    cfg = compose_cfg("pseudo=skip_frame", "pseudo.skip.p=0.3", "trainer.max_epochs=7")
    pseudo = build_datamodule(cfg).pseudo
    assert pseudo.skip.p == pytest.approx(0.3) and tuple(pseudo.skip.jump) == (2, 3, 4, 5)
    assert cfg.trainer.max_epochs == 7
    assert SkipFrame(**cfg.pseudo.skip).p == pytest.approx(0.3)
