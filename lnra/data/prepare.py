"""Convert the official releases of Ped2, Avenue and ShanghaiTech into lnra's layout.

How, and what it checks: docs/guide.md, Datasets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from lnra.data.download import download_cifar100, downloaded_source
from lnra.data.releases import PREPARERS, Writer
from lnra.diskio import atomic_dir, creatable, unreadable
from lnra.errors import LnraError, exit_status


def _check_out(target: Path, overwrite: bool) -> None:
    """``OUT/<name>`` can be written, and holds no dataset unless ``overwrite``: checked before any work."""
    if problem := creatable(target):
        raise LnraError(f"--out {target.parent}: {problem}")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise LnraError(f"{target} already exists and is not empty; add --overwrite to replace it")


def prepare(name: str, source: Path, out: Path, overwrite: bool = False, ext: str = "jpg",
            log: Callable[[str], None] = print, labels: str = "paper") -> None:
    """Convert one dataset into ``out/<name>``, replacing an existing one only when complete."""
    source, target = Path(source), Path(out) / name
    if problem := unreadable(source, "source"):
        raise LnraError(problem)
    _check_out(target, overwrite)
    with atomic_dir(target) as staging:
        PREPARERS[name](source, Writer(staging, target, ext, log, labels))
    log(f"wrote {target}; use it with: python run.py dataset={name} paths.data_dir={Path(out)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lnra.data.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=[*sorted(PREPARERS), "cifar100", "imagenet"],
                        help="a dataset, or an intruder set for patch pseudo anomalies (--download only)")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--source", type=Path,
                       help="ped2: UCSD_Anomaly_Dataset.tar.gz or its unpacked folder; avenue, shanghai: "
                            "the unpacked release folder")
    given.add_argument("--download", action="store_true",
                       help="fetch the official release into OUT/downloads (resumable, checksum-verified), "
                            "then prepare it; shanghai and imagenet: says where to get them")
    parser.add_argument("--out", type=Path, required=True, help="data folder; writes OUT/<name>/")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT/<name>")
    parser.add_argument("--ext", choices=["jpg", "png"], default="jpg",
                        help="format of decoded frames (ShanghaiTech's test JPEGs are copied as they are)")
    parser.add_argument("--labels", choices=["paper", "ground_truth"], default="paper",
                        help="frame labels to write: the paper's own (default; its AUCs were computed with "
                             "them) or derived from the official ground truth; both are compared per video")
    args = parser.parse_args(argv)

    def work() -> None:
        if not args.download:
            if args.name not in PREPARERS:
                raise LnraError(f"{args.name} is fetched, not converted: use --download instead of --source")
            prepare(args.name, args.source, args.out, args.overwrite, args.ext, labels=args.labels)
        elif args.name == "cifar100":
            download_cifar100(args.out)
        else:
            if args.name in PREPARERS:  # said before a download of gigabytes, not after it
                _check_out(args.out / args.name, args.overwrite)
            with downloaded_source(args.name, args.out) as source:
                prepare(args.name, source, args.out, args.overwrite, args.ext, labels=args.labels)

    return exit_status(work)


if __name__ == "__main__":
    sys.exit(main())
