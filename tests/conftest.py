"""Shared fixtures: where the real data is, tiny configs composed with the real Hydra configs, and a
fast real run (``debug=fast`` on tiny generated data).

The test folders mirror the package (``data/``, ``pseudo/``, ``loading/``, ``method/``, ``callbacks/``,
``run/``, ``tools/``, ``schema/``); ``test_architecture.py`` checks the package's layers and ``e2e/``
holds whole-command tests. Every folder inherits these fixtures. The folders are not packages, so test
file names stay unique; ``helpers/`` is importable as ``helpers`` from all of them (``pythonpath`` in
pyproject.toml)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.paths import CONF, FAST_RUN, shared_data_dir, tmp_paths
from helpers.runner import FinishedRun, run_dir_of, run_py
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import lnra  # noqa: F401 - registers the run's settings and resolvers, as every way into Hydra does
from lnra.run.command import prepare


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data not found: set LNRA_SHARED_DATA or place it at ../shared/data")
    return path


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Iterator:
    """Compose the real ``conf/`` with overrides, read as ``python run.py`` reads them (without running)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):

        def _compose(*overrides: str, config_name: str = "config") -> DictConfig:
            return compose(config_name=config_name, overrides=prepare([*tmp_paths(tmp_path), *overrides],
                                                                      CONF),
                           return_hydra_config=False)

        yield _compose


@pytest.fixture
def fast_run(tmp_path: Path) -> Callable[..., FinishedRun]:
    """A real ``python run.py`` with ``FAST_RUN`` and the given overrides, writing only inside ``tmp_path``:
    a whole train + test in seconds for tests that need a finished run, not a particular training."""

    def _run(*overrides: str) -> FinishedRun:
        proc = run_py(tmp_path, *FAST_RUN, *overrides)
        return FinishedRun(proc, run_dir_of(proc))

    return _run
