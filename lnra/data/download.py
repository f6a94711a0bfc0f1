"""Official dataset releases for ``prepare --download``, resumed after an interruption and checked for size
and SHA-256, so that a mirror serving other bytes is refused, not prepared (docs/guide.md, Datasets)."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from lnra.data.frames import progress
from lnra.errors import LnraError

MIRROR_ENV = "LNRA_DOWNLOAD_MIRROR"


class Archive(NamedTuple):
    """One file of an official release: where it is and what it must be."""

    url: str
    sha256: str
    size: int | None = None  # bytes, where the release's size is known

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


# The official archives and the SHA-256 sums published for them (e.g. by anomalib's dataset modules).
RELEASES: dict[str, tuple[Archive, ...]] = {
    "ped2": (Archive("http://www.svcl.ucsd.edu/projects/anomaly/UCSD_Anomaly_Dataset.tar.gz",
                     "2329af326951f5097fdd114c50e853957d3e569493a49d22fc082a9fd791915b"),),
    "avenue": (
        Archive("http://www.cse.cuhk.edu.hk/leojia/projects/detectabnormal/Avenue_Dataset.zip",
                "fc9cb8432a11ca79c18aa180c72524011411b69d3b0ff27c8816e41c0de61531", 813_227_845),
        Archive("http://www.cse.cuhk.edu.hk/leojia/projects/detectabnormal/ground_truth_demo.zip",
                "60fec1728ec8f73a58aad3aeb5729d70a805a47e0b8eb4bf91ab67ef06386d77", 931_269),
    ),
}

# What to do where no direct link exists: one line each, with the command that follows.
NO_DIRECT_LINK = {
    "shanghai": "ShanghaiTech Campus has no stable direct download: get shanghaitech.tar.gz from the "
                "authors' page https://svip-lab.github.io/dataset/campus_dataset.html (OneDrive/BaiduPan "
                "links), unpack it and run python -m lnra.data.prepare shanghai --source <unpacked folder "
                "with training/videos and testing/frames> --out {out}",
    "imagenet": "ImageNet cannot be downloaded without an account: register at https://image-net.org/download"
                ", unpack the ILSVRC2012 training set as <folder>/<class>/<image>.JPEG and pass "
                "pseudo.source.root=<folder> (or put it at {out}/intruders/imagenet)",
}


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _open(url: str, offset: int) -> tuple[object, int]:
    """The response for ``url`` from byte ``offset`` on, and the offset honoured (0: ``Range`` ignored)."""
    headers = {"User-Agent": "lnra-download"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the partial file already holds every byte
            return None, offset
        raise LnraError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except OSError as err:  # urllib's URLError too
        raise LnraError(f"cannot download {url}: {getattr(err, 'reason', err)}") from None
    return response, offset if response.status == 206 else 0


def fetch(archive: Archive, folder: Path) -> Path:
    """``folder/<file name>``, verified; a verified copy is reused, ``<file name>.partial`` resumed."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / archive.filename
    if target.is_file():
        if sha256_of(target) == archive.sha256:
            print(f"{target}: already downloaded, checksum ok")
            return target
        print(f"{target}: checksum does not match the official release; downloading it again")
        target.unlink()
    partial = target.with_name(target.name + ".partial")
    mirror = os.environ.get(MIRROR_ENV)
    url = f"{mirror.rstrip('/')}/{archive.filename}" if mirror else archive.url
    response, offset = _open(url, partial.stat().st_size if partial.is_file() else 0)
    length = response.headers.get("Content-Length") if response is not None else None
    served = offset + int(length) if length is not None else None
    if archive.size is not None and served is not None and served != archive.size:
        raise LnraError(f"{url} serves {served} bytes but the official {archive.filename} has "
                        f"{archive.size}; not downloading it")
    total = archive.size or served
    if offset:
        print(f"resuming {archive.filename} at byte {offset:,}" + (f" of {total:,}" if total else ""))
    if response is not None:  # None: the server said the partial file already holds every byte
        with (response, partial.open("ab" if offset else "wb") as out,  # "wb": the server restarted at 0
              progress(total, partial.stem, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                       mininterval=1.0) as bar):
            try:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as err:  # a reset, a timeout, a short body
                raise LnraError(f"download of {url} interrupted at {bar.n} bytes ({err}); run the same "
                                "command again to resume it") from None
    size = partial.stat().st_size
    if total is not None and size != total:
        raise LnraError(f"download of {url} stopped at {size} of {total} bytes; run the same command "
                        "again to resume it")
    digest = sha256_of(partial)
    if digest != archive.sha256:
        partial.unlink()
        raise LnraError(f"{url}: SHA-256 {digest} is not the official {archive.sha256}; the file was "
                        "deleted (a broken mirror or a changed release?)")
    partial.rename(target)
    print(f"{target}: {size / 1e6:.1f} MB, checksum ok")
    return target


@contextmanager
def downloaded_source(name: str, out: Path) -> Iterator[Path]:
    """``prepare name``'s ``--source``, fetched into ``out/downloads``; Avenue's two zips unpacked as one."""
    if name in NO_DIRECT_LINK:
        raise LnraError(NO_DIRECT_LINK[name].format(out=out))
    downloads = out / "downloads"
    files = [fetch(archive, downloads) for archive in RELEASES[name]]
    if name == "ped2":
        yield files[0]
        return
    unpacked = downloads / f".{name}-unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    try:
        print(f"unpacking {', '.join(f.name for f in files)}")
        for f in files:
            try:
                with zipfile.ZipFile(f) as z:
                    z.extractall(unpacked)
            except (zipfile.BadZipFile, OSError) as err:
                raise LnraError(f"cannot unpack {f}: {err}") from None
        roots = [p.parent for p in unpacked.rglob("training_videos") if p.is_dir()]
        if not roots:
            raise LnraError(f"{files[0]} holds no training_videos folder: is it the Avenue release?")
        ground_truth = next((p for p in unpacked.rglob("ground_truth_demo") if p.is_dir()), None)
        if ground_truth is not None and ground_truth.parent != roots[0]:
            ground_truth.rename(roots[0] / "ground_truth_demo")
        yield roots[0]
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)


def download_cifar100(out: Path) -> None:
    """CIFAR-100 through torchvision (MD5-checked) where ``pseudo/source=cifar100`` looks by default."""
    from torchvision.datasets import CIFAR100

    root = out / "intruders" / "cifar100"
    try:
        CIFAR100(str(root), train=True, download=True)
    except (OSError, RuntimeError) as err:  # urllib's URLError is an OSError
        raise LnraError(f"cannot download CIFAR-100 into {root}: {err}") from None
    print(f"CIFAR-100 in {root}/cifar-100-python; use it with: paths.data_dir={out} (or "
          f"pseudo.source.root={root})")
