"""How a single run that stops early ends: what it saved, the command that goes on, and nothing left behind
(docs/guide.md, Interrupted runs). Lightning leaves SIGTERM to the system before training and stops only after
the batch during it, so both signals raise :class:`Interrupted` where the run is and take Ctrl-C's path."""

from __future__ import annotations

import shlex
import shutil
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from lnra.errors import LnraError
from lnra.run.checkpoints import read_weights
from lnra.run.rundir import made_for
from lnra.run.settings import newest_checkpoint, outputs_in


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised where the run is: Lightning shuts down for both as for Ctrl-C."""


def continue_command(argv: Sequence[str], run_dir: Path | None) -> str:
    """``argv`` as a command to paste: with ``resume=<run_dir>`` when there is something to continue."""
    kept = [a for a in argv[1:] if a.lstrip("+~").split("=", 1)[0] != "resume" and a != "ckpt_path=last"]
    return shlex.join(["python", argv[0], *kept, *([f"resume={run_dir}"] if run_dir else [])])


def stopped_line(signum: int, run_dir: Path, argv: Sequence[str], max_epochs: object, removed: bool) -> str:
    """The one line a stopped run ends with: the signal, what was saved, the command that goes on."""
    name = signal.Signals(signum).name
    saved = newest_checkpoint(run_dir)
    if saved is None:
        return (f"stopped by {name}: nothing saved yet (no validation finished)"
                f"{', run directory removed' if removed else ''}; start again with: "
                f"{continue_command(argv, None)}")
    epoch = read_weights(saved).epoch
    done = f"epoch {epoch + 1} of {max_epochs}" if isinstance(epoch, int) else "its last validation"
    return (f"stopped by {name}: saved {saved} ({done}, after its validation); continue with: "
            f"{continue_command(argv, run_dir)}")


@contextmanager
def stops_said(run_dir: Path, argv: Sequence[str], max_epochs: object) -> Iterator[None]:
    """The block with SIGINT and SIGTERM raising :class:`Interrupted`; a stop prints its line and exits with
    128 + the signal, as a shell would. Nothing saved: the run directory this process made is removed."""
    received: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise Interrupted(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except (LnraError, KeyboardInterrupt, SystemExit) as err:  # Lightning ends an interrupt in sys.exit(1)
        stopped = received[0] if received else signal.SIGINT if isinstance(err, KeyboardInterrupt) else None
        if stopped is None and not isinstance(err, LnraError):
            raise
        made = made_for(run_dir)
        removed = made is not None and not outputs_in(run_dir)
        if removed:
            shutil.rmtree(made, ignore_errors=True)
        if stopped is None:
            raise
        print(stopped_line(stopped, run_dir, argv, max_epochs, removed), file=sys.stderr)
        raise SystemExit(128 + stopped) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
