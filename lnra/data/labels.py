"""Frame-level test labels: one (1, N) array for all test videos, split by the sorted video order."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from lnra.diskio import read_problem
from lnra.errors import LnraError

log = logging.getLogger(__name__)


@dataclass
class TestVideos:
    """The test split as the evaluation sees it: each video's name and its (n_frames,) 0/1 frame labels,
    in the sorted video order that video indices refer to, and the length of the windows that score them.
    Every evaluation batch carries it, so whoever scores a batch needs nothing else of the dataset. Not
    frozen: it travels inside an :class:`~lnra.method.scoring.Evaluation`, which torchmetrics rebuilds
    field by field."""

    __test__ = False  # data, not a pytest class

    names: tuple[str, ...]
    labels: tuple[np.ndarray, ...]
    clip_len: int = 16


PAPER_LABELS = ("ped2", "avenue", "shanghai")  # datasets whose paper label files ship with lnra


def paper_label_file(name: str) -> Path | None:
    """The paper's own frame labels for ``name``, shipped in the package (docs/method.md §1), or None.

    These are the files the published AUCs were computed with; for Avenue they differ from labels
    derived from the official pixel masks on 441 frames, so they are the default for all three."""
    if name not in PAPER_LABELS:
        return None
    return Path(str(resources.files("lnra.data") / "paper_labels" / f"frame_labels_{name}.npy"))


def label_candidates(name: str, dataset_root: Path, labels_path: str | Path | None) -> list[Path]:
    """Where the labels may be: the configured file only; else a file in the dataset folder (which
    ``prepare`` writes: the paper's labels unless asked otherwise), then the ``labels/`` folder beside
    the dataset folders (``<data_dir>/labels``), then the paper's labels shipped with lnra. A file on
    disk wins over the shipped one — someone put it there — and is reported when it differs."""
    if labels_path:
        return [Path(labels_path)]
    filename = f"frame_labels_{name}.npy"
    root = Path(dataset_root)
    paper = paper_label_file(name)
    return [root / filename, root.parent / "labels" / filename, *([paper] if paper else [])]


def find_label_file(name: str, dataset_root: Path, labels_path: str | Path | None) -> Path:
    """The first existing candidate of :func:`label_candidates`; the error names every place looked at, or
    the one that is there but cannot be read. A file in the dataset folder that differs from the paper's
    labels is used, with a warning."""
    candidates = label_candidates(name, dataset_root, labels_path)
    for path in candidates:
        problem = read_problem(path, "file")
        if problem is None:
            _warn_if_not_the_papers(name, path)
            return path
        if not problem.startswith("not found"):  # there, but a folder or unreadable: not skipped over
            raise LnraError(f"label file {path} {problem}")
    raise LnraError(
        f"label file not found; looked at {', '.join(str(p) for p in candidates)} (expected "
        f"frame_labels_{name}.npy, shape (1, total test frames), in the dataset folder, in "
        "<data_dir>/labels, or given by dataset.labels_path=...)"
    )


def _warn_if_not_the_papers(name: str, path: Path) -> None:
    """Say so when the labels used are not the paper's: then AUCs are not comparable with its numbers."""
    paper = paper_label_file(name)
    if paper is None or path == paper:
        return
    try:
        mine, theirs = np.load(path, allow_pickle=False).ravel(), np.load(paper).ravel()
    except (OSError, ValueError):
        return  # load_labels reports an unreadable file
    if len(mine) == len(theirs) and not np.array_equal(mine, theirs):
        log.warning("the labels in %s differ from the paper's %s labels on %d of %d frames: AUCs are not "
                    "comparable with the published ones (the paper's: dataset.labels_path=%s)", path, name,
                    int((mine != theirs).sum()), len(mine), paper)


def load_labels(
    path: Path, video_lengths: list[int] | np.ndarray, video_names: list[str]
) -> list[np.ndarray]:
    """Load and split the labels per test video; the total must equal the number of test frames."""
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise LnraError(f"cannot read label file {path}: {err or 'empty'}") from None
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
