"""What a command forked by ``helpers.fork_server`` can do before it runs (``ForkServer.run(setup=...)``):
give up root's permission override, or hold still at one point of the run until a signal arrives."""

from __future__ import annotations

import ctypes
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

UNPRIVILEGED = ("helpers.in_child", "unprivileged", [])
POINTS = ("frame cache", "training", "validation")


def unprivileged() -> None:
    """Drop the capabilities that let root ignore file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
    CAP_FOWNER): a ``chmod 000`` file is then unreadable for this process, as for any other user, while the
    interpreter's own root-owned files stay readable (after a ``setuid`` to another user they would not
    be: ``/root`` is closed). Nothing to drop when the tests do not run as root."""
    if os.geteuid() != 0:
        return

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc, header, data = ctypes.CDLL(None, use_errno=True), Header(0x20080522, 0), (Data * 2)()  # version 3
    keep = ~((1 << 1) | (1 << 2) | (1 << 3)) & 0xFFFFFFFF
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    for field in ("effective", "permitted", "inheritable"):
        setattr(data[0], field, getattr(data[0], field) & keep)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _hold(marker: str) -> None:
    """Say so (write ``marker``), then sleep until a signal's handler raises."""
    Path(marker).write_text(str(os.getpid()))
    time.sleep(600)


def _held_when(method: Callable[..., Any], at: Callable[..., bool], marker: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def held(*args: Any, **kwargs: Any) -> Any:
        if at(*args, **kwargs):
            _hold(marker)
        return method(*args, **kwargs)

    return held


def pause_at(point: str, marker: str) -> None:
    """Hold the run still at ``point`` — the frame cache half built (its first chunk decoded), the first
    training step of the second epoch, or the first validation step of the second epoch (the first epoch's
    checkpoint written) — writing ``marker`` when it gets there."""
    import lnra.data.frames as frames
    from lnra.method.module import LnraModule

    if point == "frame cache":
        progress = frames.progress

        def paused_progress(total: int | None, desc: str, **bar: Any) -> Any:
            shown = progress(total, desc, **bar)
            bar_object = getattr(shown, "enter_result", shown)  # progress lines come in a nullcontext
            bar_object.update = _held_when(bar_object.update, lambda n: True, marker)
            return shown

        frames.progress = paused_progress
        return
    step = {"training": "training_step", "validation": "validation_step"}[point]
    setattr(LnraModule, step, _held_when(getattr(LnraModule, step),
                                         lambda module, batch, batch_idx: module.current_epoch == 1
                                         and batch_idx == 0 and not module.trainer.sanity_checking, marker))
