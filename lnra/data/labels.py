"""Frame-level test labels: one (1, N) array for all test videos, split by the sorted video order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lnra.errors import LnraError


def label_candidates(name: str, dataset_root: Path, labels_path: str | Path | None) -> list[Path]:
    """Where the labels may be: the configured file only, else the dataset folder, then the
    ``labels/`` folder beside the dataset folders (``<data_dir>/labels``)."""
    if labels_path:
        return [Path(labels_path)]
    filename = f"frame_labels_{name}.npy"
    root = Path(dataset_root)
    return [root / filename, root.parent / "labels" / filename]


def find_label_file(name: str, dataset_root: Path, labels_path: str | Path | None) -> Path:
    """The first existing candidate of :func:`label_candidates`; the error names every place looked at."""
    candidates = label_candidates(name, dataset_root, labels_path)
    for path in candidates:
        if path.is_file():
            return path
    raise LnraError(
        f"label file not found; looked at {', '.join(str(p) for p in candidates)} (expected "
        f"frame_labels_{name}.npy, shape (1, total test frames), in the dataset folder, in "
        "<data_dir>/labels, or given by dataset.labels_path=...)"
    )


def load_labels(
    path: Path, video_lengths: list[int] | np.ndarray, video_names: list[str]
) -> list[np.ndarray]:
    """Load and split the labels per test video; the total must equal the number of test frames."""
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise LnraError(f"cannot read label file {path}: {err}") from None
    labels = np.squeeze(labels)
    if labels.ndim != 1:
        raise LnraError(f"label file {path} has shape {labels.shape}; expected (1, N) or (N,)")
    total = int(np.sum(video_lengths))
    if len(labels) != total:
        raise LnraError(
            f"label file {path} has {len(labels)} labels but the {len(video_lengths)} test videos have "
            f"{total} frames; the labels must cover every test frame in sorted video order"
        )
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1}:
        raise LnraError(
            f"label file {path} holds values {sorted(values)}; expected 0 (normal) and 1 (anomalous)"
        )
    offsets = np.concatenate([[0], np.cumsum(video_lengths)])
    return [labels[offsets[v] : offsets[v + 1]].astype(np.int64) for v in range(len(video_names))]
