"""The frame cache's files: one builder at a time (the jobs of a sweep on a cold cache would otherwise
each decode the whole dataset), and data that appears only with its metadata (docs/guide.md, Datasets)."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from lnra.diskio import atomic_path, explained_write_errors, partial_path

log = logging.getLogger(__name__)
# A full disk or a read-only cache folder → one line naming the path and the free space.
explained_cache_write = partial(explained_write_errors, what="the frame cache")


@contextmanager
def build_lock(data_path: Path) -> Iterator[None]:
    """Hold the ``fcntl`` lock on ``<cache>.lock``, which the OS releases when its holder dies, however."""
    lock_path = data_path.with_name(f"{data_path.name}.lock")
    said = False
    while True:
        with explained_cache_write(lock_path):
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not said:
                log.info("waiting for another process that is building the frame cache %s (lock %s)",
                         data_path.name, lock_path)
                said = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        with suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(fd), os.stat(lock_path)):
                break
        os.close(fd)  # the holder we waited for removed this lock file: lock the current one
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # while still locked: a waiter on this file sees it is gone
        os.close(fd)


@contextmanager
def writing_cache(data_path: Path, meta: dict[str, Any], shape: tuple[int, int, int]) -> Iterator[BinaryIO]:
    """The file to append a uint8 ``shape`` array's frames to (a writable memory map keeps every written page
    resident); on success the metadata ``.json`` is published, then the data: whoever sees one sees both."""
    meta_path = data_path.with_suffix(".json")  # under the lock: a killed builder's partial files are reused
    with (explained_cache_write(data_path),
          atomic_path(data_path, partial_path(data_path)) as data_tmp,
          atomic_path(meta_path, partial_path(meta_path)) as meta_tmp):
        with open(data_tmp, "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
            yield f
            f.flush()
            os.fsync(f.fileno())
        meta_tmp.write_text(json.dumps(meta))
