"""Every input a run needs, looked up (nothing decoded or built) before anything heavy, and all that are
missing reported at once, each with the command that gets it, rather than one per failed run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from lnra.data.download import NO_DIRECT_LINK, RELEASES
from lnra.data.frames import list_videos
from lnra.data.labels import find_label_file, load_labels
from lnra.diskio import read_problem, unreadable
from lnra.errors import LnraError


@dataclass(frozen=True)
class Missing:
    """One missing input: what was looked for, and how to get it (empty when there is no recipe)."""

    what: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.what}; get it with: {self.fix}" if self.fix else self.what


def dataset_command(name: str, root: Path) -> str:
    """The command that writes ``root`` (``<out>/<name>``) for a dataset lnra knows how to prepare."""
    out = root.parent
    where = "" if root.name == name else f" and set dataset.root={out / name}"
    if name in RELEASES:
        return f"python -m lnra.data.prepare {name} --download --out {out}{where}"
    if name in NO_DIRECT_LINK:
        return NO_DIRECT_LINK[name].format(out=out) + where
    return ""


def _split_missing(split_dir: Path, fix: str) -> Missing | None:
    """The split's own error (missing, unreadable or without videos), from a look at its top level only."""
    if read_problem(split_dir, "folder") is None and any(p.is_dir() for p in split_dir.iterdir()):
        return None
    try:
        list_videos(split_dir)
    except LnraError as err:
        return Missing(str(err), fix)
    return None


def dataset_inputs(cfg: DictConfig, training: bool) -> list[Missing]:
    """Frame folders of the splits the task reads, and the test labels (found, read, one per frame)."""
    d = cfg.dataset
    if d.get("generate") is not None or d.get("_target_") != "lnra.loading.datamodule.VideoDataModule":
        return []  # generated data; or a DataModule of another layout, which checks its own files
    root = Path(d.root)
    fix = dataset_command(d.name, root)
    test_split = _split_missing(root / "testing" / "frames", fix)
    train_split = _split_missing(root / "training" / "frames", fix) if training else None
    missing = [m for m in (test_split, train_split) if m]
    if read_problem(root, "folder"):
        return missing[:1]  # one line for a dataset that is not there at all
    try:
        labels = find_label_file(d.name, root, d.get("labels_path"))
        if test_split is None:
            listing = list_videos(root / "testing" / "frames")
            load_labels(labels, listing.lengths, listing.names)
    except LnraError as err:
        missing.append(Missing(str(err), fix if d.name in RELEASES else ""))
    return missing


def _source_missing(source: DictConfig, cfg: DictConfig) -> Missing | None:
    """The intruder source's files, by the class it builds (textures need none)."""
    kind = str(source.get("_target_", "")).rsplit(".", 1)[-1]
    if kind == "Cifar100Source" and not source.get("download"):
        root = Path(source.root)
        problem = read_problem(root / "cifar-100-python" / "train", "file")
        if problem is None:
            return None
        if not problem.startswith("not found"):
            return Missing(f"CIFAR-100 file {root / 'cifar-100-python' / 'train'} {problem}")
        default_place = (root.parent.name, root.name) == ("intruders", "cifar100")
        fix = (f"python -m lnra.data.prepare cifar100 --download --out {root.parent.parent}" if default_place
               else "pseudo.source.download=true")
        return Missing(f"CIFAR-100 not found in {root}{problem.removeprefix('not found')}: expected "
                       f"torchvision's format {root}/cifar-100-python/{{train,test,meta}}", fix)
    if kind == "ImageFolderSource":
        problem = unreadable(source.root, "intruder folder", "folder")
        if problem:
            return Missing(f"{problem} (an image folder <root>/<class>/<image>)",
                           NO_DIRECT_LINK["imagenet"].format(out=cfg.paths.data_dir))
    if kind == "VideoClipSource":
        root = Path(source.root)
        if problem := unreadable(root / "training" / "frames", "intruder videos", "folder"):
            return Missing(f"{problem} (the {source.name} training frames)",
                           dataset_command(str(source.name), root))
    return None


def intruder_inputs(cfg: DictConfig) -> list[Missing]:
    """The intruder sources of the patch pseudo anomalies (each one once, even when shared)."""
    found = [_source_missing(entry.source, cfg) for entry in cfg.pseudo.get("patches") or []
             if entry.get("source") is not None]  # a patch of its own making has no intruders
    return [missing for missing in dict.fromkeys(found) if missing is not None]


def missing_inputs(cfg: DictConfig, training: bool) -> list[str]:
    """Everything the task will read, looked up in well under a second: [] or one line naming every gap."""
    missing = dataset_inputs(cfg, training) + intruder_inputs(cfg)  # the checkpoint: checked with the config
    if len(missing) > 1:
        return [f"{len(missing)} inputs of this run are missing: "
                + " ".join(f"({i}) {m}." for i, m in enumerate(missing, start=1))]
    return [str(m) for m in missing]
