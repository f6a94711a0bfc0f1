"""Frame-level test labels: one (1, N) array for all test videos, split by the sorted video order."""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from lnra.diskio import read_problem
from lnra.errors import LnraError

log = logging.getLogger(__name__)


@dataclass
class TestVideos:
    """Test video names, (n_frames,) 0/1 labels and window length, carried by every evaluation batch. Not
    frozen: torchmetrics rebuilds the Evaluation it travels in field by field."""

    __test__ = False  # data, not a pytest class

    names: tuple[str, ...]
    labels: tuple[np.ndarray, ...]
    clip_len: int = 16


def paper_label_file(name: str) -> Path | None:
    """The paper's frame labels for ``name``, shipped in the package (docs/method.md §1), or None."""
    path = Path(str(resources.files("lnra.data") / "paper_labels" / f"frame_labels_{name}.npy"))
    return path if path.is_file() else None


def find_label_file(name: str, dataset_root: Path, labels_path: str | Path | None) -> Path:
    """The configured file, else the first there in the order of docs/guide.md (Datasets, Labels); labels not
    the paper's are said, as their AUCs are not comparable with its numbers."""
    filename, root, paper = f"frame_labels_{name}.npy", Path(dataset_root), paper_label_file(name)
    candidates = [Path(labels_path)] if labels_path else [root / filename, root.parent / "labels" / filename,
                                                          *([paper] if paper else [])]
    for path in candidates:
        if (problem := read_problem(path, "file")) is None:
            break
        if not problem.startswith("not found"):  # there, but a folder or unreadable: not skipped over
            raise LnraError(f"label file {path} {problem}")
    else:
        raise LnraError(f"label file not found; looked at {', '.join(str(p) for p in candidates)} (expected "
                        f"{filename}, shape (1, total test frames), in the dataset folder, in "
                        "<data_dir>/labels, or given by dataset.labels_path=...)")
    if paper is None or path == paper:
        return path
    with suppress(OSError, ValueError):  # load_labels reports an unreadable file
        mine, theirs = np.load(path, allow_pickle=False).ravel(), np.load(paper).ravel()
        if len(mine) == len(theirs) and not np.array_equal(mine, theirs):
            log.warning("the labels in %s differ from the paper's %s labels on %d of %d frames: AUCs are "
                        "not comparable with the published ones (the paper's: dataset.labels_path=%s)",
                        path, name, int((mine != theirs).sum()), len(mine), paper)
    return path


def load_labels(path: Path, video_lengths: list[int] | np.ndarray) -> list[np.ndarray]:
    """Load and split the labels per test video; the total must equal the number of test frames."""
    try:
        labels = np.squeeze(np.load(path, allow_pickle=False))
    except (OSError, ValueError, EOFError) as err:
        raise LnraError(f"cannot read label file {path}: {err or 'empty'}") from None
    if labels.ndim != 1:
        raise LnraError(f"label file {path} has shape {labels.shape}; expected (1, N) or (N,)")
    total = int(np.sum(video_lengths))
    if len(labels) != total:
        raise LnraError(f"label file {path} has {len(labels)} labels but the {len(video_lengths)} test "
                        f"videos have {total} frames; the labels must cover every test frame in sorted video "
                        "order")
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1}:
        raise LnraError(f"label file {path} holds values {sorted(values)}; expected 0 (normal) and 1 "
                        "(anomalous)")
    return np.split(labels.astype(np.int64), np.cumsum(video_lengths)[:-1])
