"""Writes that fail because the disk is full or the place is read-only, told in one line.

A full disk mid-sweep otherwise surfaces as a traceback from deep inside ``torch.save`` or NumPy, with
no hint of which disk or how much room is left. Every write that matters for resuming (checkpoints, the
frame cache, results) goes through :func:`explained_write_errors`, which turns those errors into one
:class:`~lnra.errors.LnraError` naming the path and the free space; the writers themselves make sure the
previous file is intact, so the same command with ``resume=true`` continues once there is room.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lnra.errors import LnraError

# Errors a user fixes by freeing space or fixing permissions, not by changing lnra's input.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def _human(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def free_space(path: str | os.PathLike) -> str:
    """Free space on the file system holding ``path`` (or its nearest existing parent), for messages."""
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return f"{_human(shutil.disk_usage(folder).free)} free"
    except OSError:
        return "free space unknown"


def write_error(path: str | os.PathLike, what: str, err: OSError) -> LnraError:
    """The one-line error for a failed write of ``what`` to ``path``."""
    reason = "disk full" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "no permission (or read-only)"
    return LnraError(f"cannot write {what} {path}: {reason} [{err.strerror or err}], {free_space(path)} "
                     "there; the previous file is intact: free space (or fix the permission) and run the "
                     "command again (resume=true continues an interrupted run)")


@contextmanager
def explained_write_errors(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Re-raise a full-disk or permission error inside the block as :func:`write_error`; others pass."""
    try:
        yield
    except OSError as err:
        if err.errno in WRITE_ERRNOS:
            raise write_error(path, what, err) from None
        raise
