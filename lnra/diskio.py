"""Paths checked before a command writes, and writes that leave the old file or the complete new one, so a
full disk is one line and ``resume=true`` continues once there is room (docs/guide.md, Interrupted runs)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

from lnra.errors import LnraError

Kind = Literal["folder", "file"] | None  # what a path must be; None: either


def _nearest(path: Path) -> tuple[Path, os.stat_result | OSError]:
    """``path`` or its nearest existing ancestor, with its ``stat`` or the error that keeps it from a look."""
    while True:
        try:
            return path, path.stat()
        except (FileNotFoundError, NotADirectoryError):
            if path == path.parent:
                raise
            path = path.parent
        except OSError as err:
            return path, err


def new_folder(path: Path) -> Path | None:
    """The outermost folder that creating ``path`` would make, or None: what a failed write removes."""
    path = path.absolute()
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    return missing[-1] if missing else None


@contextmanager
def made_folder(path: Path) -> Iterator[Path]:
    """Create ``path`` for the block; a failing block leaves no folder behind that was not there before."""
    new = new_folder(path)
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        if new is not None:
            shutil.rmtree(new, ignore_errors=True)
        raise


def creatable(folder: str | os.PathLike) -> str | None:
    """Why no folder can be created (or written in) at ``folder``, probed by making one, or None."""
    target = Path(folder).expanduser().absolute()
    existing, found = _nearest(target)
    if isinstance(found, OSError):
        return f"cannot create folders there ({found.strerror or found} at {existing})"
    if not stat.S_ISDIR(found.st_mode):
        return "is a file, not a folder" if existing == target else \
            f"cannot create folders there ({existing} is a file, not a folder)"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".lnra-probe-", dir=existing))
    except OSError as err:
        return f"cannot create folders there ({err.strerror or err} in {existing})"
    return None


def read_problem(path: str | os.PathLike, kind: Kind = None) -> str | None:
    """Why ``path`` cannot be read as ``kind``, as the words that follow its name, or None."""
    target = Path(path).expanduser().absolute()
    existing, found = _nearest(target)
    if isinstance(found, OSError):
        where = "" if existing == target else f" at {existing}"
        return f"cannot be read ({found.strerror or found}{where})"
    is_dir = stat.S_ISDIR(found.st_mode)
    if existing != target:
        return "not found" + ("" if is_dir else f" ({existing} is a file, not a folder)")
    if kind is not None and is_dir != (kind == "folder"):
        return f"is a {'folder' if is_dir else 'file'}, not a {kind}"
    try:
        with os.scandir(target) if is_dir else open(target, "rb"):
            pass  # opening is what a missing read permission refuses
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    return None


def unreadable(path: str | os.PathLike, what: str, kind: Kind = None) -> str | None:
    """:func:`read_problem` as one line naming ``what`` and ``path``, or None."""
    if (problem := read_problem(path, kind)) is None:
        return None
    if problem.startswith("not found"):
        return f"{what} not found: {path}{problem.removeprefix('not found')}"
    return f"{what} {path} {problem}"


def free_space(path: str | os.PathLike) -> str:
    """Free space on the file system holding ``path`` (or its nearest existing parent), for messages."""
    try:
        free: float = shutil.disk_usage(_nearest(Path(path).absolute())[0]).free
    except OSError:
        return "free space unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if free < 1024 or unit == "GB":
            break
        free /= 1024
    return f"{free} B free" if unit == "B" else f"{free:.1f} {unit} free"


@contextmanager
def explained_write_errors(path: str | os.PathLike, what: str) -> Iterator[None]:
    """A full-disk or permission error in the block (one a user fixes by freeing space or fixing the
    permission, not by changing lnra's input) as one line about writing ``what`` to ``path``."""
    try:
        yield
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        reason = "disk full" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "no permission (or read-only)"
        raise LnraError(f"cannot write {what} {path}: {reason} [{err.strerror or err}], {free_space(path)} "
                        "there; the previous file is intact: free space (or fix the permission) and run the "
                        "command again (resume=true continues an interrupted run)") from None


def partial_path(path: Path) -> Path:
    """A fixed hidden sibling to write ``path`` to first: a killed write leaves one stale file, not a pile."""
    return path.with_name(f".{path.name}.partial")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` by write-then-rename in the same folder: the old file survives any failure."""
    import torch  # here, not at the top: the cache and result writers that import this module do not need it

    path = Path(path)
    with explained_write_errors(path, "checkpoint"):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, partial_path(path)) as tmp, open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
    with suppress(OSError):  # the rename made durable; some filesystems do not open a folder
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def atomic_path(path: Path, tmp: Path | None = None) -> Iterator[Path]:
    """A temporary sibling (same suffix, for format sniffers) that replaces ``path`` if the block succeeds."""
    tmp = tmp or path.with_name(f".{path.stem}.partial{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """A :func:`partial_path` staging folder (one a killed build left cleared first) that replaces ``path``
    only if the block succeeds; a failed block leaves nothing."""
    staging = partial_path(path)
    shutil.rmtree(staging, ignore_errors=True)
    with made_folder(staging):
        yield staging
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
