"""A callback a test adds to every job of a real sweep, to see which process and which GPU each job had
and when it trained; it can also hold a job still.
Added as ``+callbacks.probe={_target_:helpers.job_probe.JobProbe}``.

It writes ``<run dir>/probe.json``: ``pid``, ``device`` (the job's ``CUDA_VISIBLE_DEVICES``), ``start`` (when
its training began) and, once trained, ``end``. A job's training is a second or two here, less than the
jitter of its start (a fresh process importing torch on a shared CPU), so two jobs that run at once might
not train at once: with ``JOB_PROBE_PAIR=1`` in the environment, each job waits after ``start`` (up to
``PARTNER_WAIT_S``) until another job of the sweep has started and not ended. Under a launcher that runs
one job at a time there never is one, and the jobs' training windows stay apart.

With ``JOB_PROBE_HOLD=N``, the first N jobs of the sweep to begin training run to their end, and every
later one stops after its first epoch, with ``last.ckpt`` written, and waits there (writing ``held``)
until it is killed: an interruption at a known point. Which jobs those are is the launcher's choice (Ray
does not start its tasks in the order they were submitted), so the turns are taken as they come, each by
creating the next free ``.probe-turn-K`` file in the sweep folder, which only one job can create. Both
are read from the environment, not the command line, so that the command that resumes a sweep is the
same one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

PAIR_ENV = "JOB_PROBE_PAIR"
HOLD_ENV = "JOB_PROBE_HOLD"
PARTNER_WAIT_S = 30
HOLD_LIMIT_S = 300  # a held job that is never killed still ends (and fails its test) instead of hanging CI


class JobProbe(Callback):
    """See the module docstring."""

    def __init__(self) -> None:
        self.record: dict[str, object] = {}
        self.held = False

    def _write(self, trainer: pl.Trainer) -> None:
        """Written whole (a rename), since the other jobs read it while this one runs."""
        partial = Path(trainer.default_root_dir, "probe.json.partial")
        partial.write_text(json.dumps(self.record))
        partial.replace(partial.with_suffix(""))

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.record = {"pid": os.getpid(), "device": os.environ.get("CUDA_VISIBLE_DEVICES"),
                       "start": time.time()}
        self._write(trainer)
        if hold := os.environ.get(HOLD_ENV):
            self.held = _take_turn(Path(trainer.default_root_dir).parent) >= int(hold)
        deadline = time.monotonic() + PARTNER_WAIT_S
        while (os.environ.get(PAIR_ENV) == "1" and time.monotonic() < deadline
               and not _another_job_running(Path(trainer.default_root_dir))):
            time.sleep(0.05)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        run_dir = Path(trainer.default_root_dir)
        if trainer.current_epoch >= 1 and self.held:
            (run_dir / "held").touch()
            time.sleep(HOLD_LIMIT_S)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.record["end"] = time.time()
        self._write(trainer)


def _another_job_running(run_dir: Path) -> bool:
    """Whether a job of the same sweep (a sibling folder) has started training and not ended."""
    return any("end" not in json.loads(probe.read_text())
               for probe in run_dir.parent.glob("*/probe.json") if probe.parent != run_dir)


def _take_turn(sweep: Path) -> int:
    """This job's place among the jobs of ``sweep`` that began training: the K of the first
    ``.probe-turn-K`` it could create (an exclusive create, which two jobs at once cannot both win)."""
    turn = 0
    while True:
        try:
            (sweep / f".probe-turn-{turn}").touch(exist_ok=False)
            return turn
        except FileExistsError:
            turn += 1
