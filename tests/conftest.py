"""Shared fixtures: where the real data is, and tiny configs composed with the real Hydra configs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from lnra.run.rundir import register_resolvers

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

register_resolvers()

# A synthetic dataset small enough for a whole train + test in seconds: 32x32 frames, 32 per video.
TINY_DATASET = [
    "dataset.height=32",
    "dataset.width=32",
    "dataset.generate.size=32",
    "dataset.generate.train_videos=2",
    "dataset.generate.test_videos=2",
    "dataset.generate.frames_per_video=32",
]


def shared_data_dir() -> Path | None:
    """The read-only real data: env ``LNRA_SHARED_DATA`` or ``<repo>/../shared/data``."""
    path = Path(os.environ.get("LNRA_SHARED_DATA", REPO.parent / "shared" / "data"))
    return path if path.is_dir() else None


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data not found: set LNRA_SHARED_DATA or place it at ../shared/data")
    return path


def tmp_paths(tmp_path: Path) -> list[str]:
    """Overrides that keep every file a run writes inside ``tmp_path``."""
    return [
        f"paths.root_dir={tmp_path}",
        f"paths.generated_dir={tmp_path}/data",
        f"paths.cache_dir={tmp_path}/cache",
        f"paths.output_dir={tmp_path}/outputs",
    ]


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Iterator:
    """Compose the real ``conf/`` with overrides, as ``python run.py`` would (without running)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):

        def _compose(*overrides: str, config_name: str = "config") -> DictConfig:
            return compose(config_name=config_name, overrides=[*tmp_paths(tmp_path), *overrides],
                           return_hydra_config=False)

        yield _compose
