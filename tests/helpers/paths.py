"""Where things are, and the overrides that keep a test's run small and inside its own folder."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"

# A synthetic dataset small enough for a whole train + test in seconds: 32x32 frames, 32 per video.
TINY_DATASET = [
    "dataset.height=32",
    "dataset.width=32",
    "dataset.generate.size=32",
    "dataset.generate.train_videos=2",
    "dataset.generate.test_videos=2",
    "dataset.generate.frames_per_video=32",
]
# A whole real run on it in seconds: ``debug=fast`` (one epoch of two training batches, no logger, every
# test window scored) with the paper's layer layout at its narrowest widths and no timeline images.
FAST_RUN = ["debug=fast", *TINY_DATASET, "model.net.widths=[8,8,8,8]", "callbacks.pictures.timelines=false"]


def shared_data_dir() -> Path | None:
    """The read-only real data: env ``LNRA_SHARED_DATA`` or ``<repo>/../shared/data``."""
    path = Path(os.environ.get("LNRA_SHARED_DATA", REPO.parent / "shared" / "data"))
    return path if path.is_dir() else None


def tmp_paths(tmp_path: Path) -> list[str]:
    """Overrides that keep every file a run writes inside ``tmp_path``."""
    return [
        f"paths.root_dir={tmp_path}",
        f"paths.generated_dir={tmp_path}/data",
        f"paths.cache_dir={tmp_path}/cache",
        f"paths.output_dir={tmp_path}/outputs",
    ]
