"""Paths checked before a command writes, and writes that leave the old file or the complete new one.

A full disk mid-sweep otherwise surfaces as a traceback from deep inside ``torch.save`` or NumPy; here it is
one :class:`~lnra.errors.LnraError` naming the path and the free space, and as the previous file is intact,
the same command with ``resume=true`` continues once there is room.
"""

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

# Errors a user fixes by freeing space or fixing permissions, not by changing lnra's input.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def _nearest(path: Path) -> tuple[Path, os.stat_result | OSError]:
    """``path`` or its nearest existing ancestor, with its ``stat`` — or the error (a permission) that keeps
    it from being looked at."""
    while True:
        try:
            return path, path.stat()
        except (FileNotFoundError, NotADirectoryError):
            if path == path.parent:
                raise
            path = path.parent
        except OSError as err:
            return path, err


def new_folder(path: str | os.PathLike) -> Path | None:
    """The outermost folder that creating ``path`` would make (``path`` itself, or a missing parent of
    it), or None when it exists already: what to remove to leave no trace of a write that failed."""
    path = Path(path).absolute()
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


@contextmanager
def made_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Create ``path`` (and its missing parents) for the block; if the block fails, remove what was made,
    so a command that stops leaves no folder behind that was not there before."""
    new = new_folder(path)
    Path(path).mkdir(parents=True, exist_ok=True)
    try:
        yield Path(path)
    except BaseException:
        if new is not None:
            shutil.rmtree(new, ignore_errors=True)
        raise


def creatable(folder: str | os.PathLike) -> str | None:
    """Why no folder can be created at ``folder``, or nothing written in it when it exists (probed by making
    a folder in it, or in its nearest existing parent), or None: the one check, made before a command
    writes anything, of every folder it will write."""
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


Kind = Literal["folder", "file"] | None  # what a path must be; None: either


def read_problem(path: str | os.PathLike, kind: Kind = None) -> str | None:
    """Why ``path`` cannot be read as a folder, a file, or either — missing, of the wrong kind, or without
    permission — as the words that follow its name, or None when it can be read."""
    target = Path(path).expanduser().absolute()
    existing, found = _nearest(target)
    if isinstance(found, OSError):
        where = "" if existing == target else f" at {existing}"
        return f"cannot be read ({found.strerror or found}{where})"
    is_dir = stat.S_ISDIR(found.st_mode)
    if existing != target:
        return "not found" + ("" if is_dir else f" ({existing} is a file, not a folder)")
    if kind == "folder" and not is_dir:
        return "is a file, not a folder"
    if kind == "file" and is_dir:
        return "is a folder, not a file"
    try:
        if is_dir:
            with os.scandir(target) as entries:
                next(entries, None)
        else:
            with open(target, "rb"):
                pass
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    return None


def unreadable(path: str | os.PathLike, what: str, kind: Kind = None) -> str | None:
    """:func:`read_problem` as one line naming ``what`` and ``path`` (``checkpoint not found: …``,
    ``checkpoint … is a folder, not a file``), or None when it can be read."""
    problem = read_problem(path, kind)
    if problem is None:
        return None
    if problem.startswith("not found"):
        return f"{what} not found: {path}{problem.removeprefix('not found')}"
    return f"{what} {path} {problem}"


def _human(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n_bytes < 1024:
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    return f"{n_bytes:.1f} GB"


def free_space(path: str | os.PathLike) -> str:
    """Free space on the file system holding ``path`` (or its nearest existing parent), for messages."""
    try:
        return f"{_human(shutil.disk_usage(_nearest(Path(path).absolute())[0]).free)} free"
    except OSError:
        return "free space unknown"


@contextmanager
def explained_write_errors(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Re-raise a full-disk or permission error inside the block as one line about writing ``what`` to
    ``path``; other errors pass."""
    try:
        yield
    except OSError as err:
        if err.errno not in WRITE_ERRNOS:
            raise
        reason = "disk full" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "no permission (or read-only)"
        raise LnraError(f"cannot write {what} {path}: {reason} [{err.strerror or err}], {free_space(path)} "
                        "there; the previous file is intact: free space (or fix the permission) and run the "
                        "command again (resume=true continues an interrupted run)") from None


def partial_path(path: Path) -> Path:
    """Where a checkpoint is written before it is renamed to ``path``: a fixed, hidden sibling, so that a
    write killed half-way leaves one stale file that the next save overwrites rather than a pile of them."""
    return path.with_name(f".{path.name}.partial")


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a crash right after ``os.replace`` could otherwise undo it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening a folder; the rename is still atomic
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` by write-then-rename in the same folder: the old file survives any failure, and a
    full disk or a read-only folder stops the run with one line naming the path and the free space."""
    import torch  # here, not at the top: the cache and result writers that import this module do not need it

    path = Path(path)
    with explained_write_errors(path, "checkpoint"):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, partial_path(path)) as tmp, open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
    _fsync_dir(path.parent)


@contextmanager
def atomic_path(path: str | os.PathLike, tmp: Path | None = None) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` (default: hidden, same suffix, so that format-sniffing writers
    still see it) that replaces ``path`` only if the block succeeds; on failure the old file stays."""
    path = Path(path)
    tmp = tmp or path.with_name(f".{path.stem}.partial{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty hidden staging folder that replaces ``path`` only if the block succeeds, so a reader
    never sees a half-written folder, and a failed block leaves nothing, not even the parents it made; its
    fixed name lets the next build clear one a killed process left."""
    path = Path(path)
    staging = path.with_name(f".{path.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    with made_folder(path.parent):
        staging.mkdir()
        try:
            yield staging
            if path.exists():
                shutil.rmtree(path)
            staging.rename(path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
