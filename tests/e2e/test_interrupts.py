"""Ctrl-C (SIGINT) and SIGTERM while a real ``run.py`` builds its frame cache, trains or validates: the run
ends with one line saying what it saved and the command that goes on, that command ends with the AUC of
a run never interrupted (same seed, ``dataset.num_workers=0``), and a frame cache cut off is never read.

Each run is a child of ``helpers.fork_server`` held still at its point (``helpers.in_child.pause_at``)
until the test sends the signal to that child's process.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import time
from pathlib import Path

import pytest
from helpers.fork_server import ForkServer, Result
from helpers.in_child import POINTS
from helpers.paths import FAST_RUN, REPO, tmp_paths

from lnra.data.synthetic import SyntheticSpec, generate_synthetic

# Two epochs: the first one's validation writes last.ckpt, the second is where training and validation stop.
# The comparison is the AUC and every frame's score of the final weights.
RUN = [*FAST_RUN, "trainer.max_epochs=2", "dataset.num_workers=0", "seed=0"]
STOPPED = re.compile(r"stopped by (SIG\w+): (saved (\S+) \(epoch (\d+) of 2, after its validation\); "
                     r"continue with|nothing saved yet \(no validation finished\), run directory removed; "
                     r"start again with): (python .+)")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The tiny generated dataset, shared: each run only reads it."""
    root = tmp_path_factory.mktemp("data")
    generate_synthetic(root / "synthetic", SyntheticSpec(size=32, train_videos=2, test_videos=2,
                                                         frames_per_video=32))
    return root


def _outcome(result: Result) -> tuple[float, str]:
    """The AUC of a finished run (results.json) and every frame's PSNR and score (scores.csv): the final
    weights, to the last bit."""
    assert result.rc == 0, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("run directory: ")]
    run_dir = Path(line.removeprefix("run directory: "))
    auc = json.loads((run_dir / "results.json").read_text())["auc_micro"]
    return auc, (run_dir / "scores.csv").read_text()


@pytest.fixture(scope="module")
def uninterrupted(server, data, tmp_path_factory) -> tuple[float, str]:
    folder = tmp_path_factory.mktemp("uninterrupted")
    return _outcome(server.run([*tmp_paths(folder), f"paths.generated_dir={data}", *RUN]))


def _stop(server: ForkServer, args: list[str], point: str, signum: int, marker: Path) -> Result:
    """Run ``args``, wait until it holds still at ``point``, send ``signum``; the stopped run's result."""
    started = server.start(args, setup=[("helpers.in_child", "pause_at", [point, str(marker)])])
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert time.monotonic() < deadline, f"never reached {point}: {started.err.read_text()[-2000:]}"
        time.sleep(0.05)
    os.kill(started.pid, signum)
    return started.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("point", POINTS)
def test_a_stopped_run_says_what_it_saved_and_its_command_ends_as_if_never_stopped(
        server, data, uninterrupted, tmp_path, point, signum) -> None:
    args = [*tmp_paths(tmp_path), f"paths.generated_dir={data}", *RUN]
    stopped = _stop(server, args, point, signum, tmp_path / "held")

    assert stopped.rc == 128 + signum, stopped.stderr[-3000:]
    lines = [line for line in stopped.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    said = STOPPED.fullmatch(lines[0])
    assert said and said.group(1) == signal.Signals(signum).name, lines[0]
    runs = list((tmp_path / "outputs" / "runs").glob("*"))
    if point == "frame cache":  # nothing saved: no run directory, no cache that could be read as whole
        assert said.group(3) is None and runs == []
        assert list((tmp_path / "cache").glob("*")) == [], "a cut-off cache was kept"
    else:  # the first epoch's checkpoint, in the run directory the command continues
        (run_dir,) = runs
        assert (said.group(3), said.group(4)) == (str(run_dir / "checkpoints" / "last.ckpt"), "1")
        assert said.group(5).endswith(f" resume={run_dir}")

    command = shlex.split(said.group(5))
    assert command[:2] == ["python", str(REPO / "run.py")]
    continued = server.run(command[2:])
    assert _outcome(continued) == uninterrupted
    if point == "frame cache":  # built whole, not read from the cut-off one
        assert "building the frame cache" in continued.stdout
    else:  # continued from the first epoch's checkpoint, not started again
        assert "resuming " in continued.stdout and "epoch 1/2" not in continued.stdout, continued.stdout
