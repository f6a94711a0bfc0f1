"""The throughput timer's clock: samples count only while a phase runs, rates are samples over seconds."""

from __future__ import annotations

import math

import pytest

from lnra.callbacks.progress import _Phase


def test_a_phase_counts_only_while_its_clock_runs() -> None:
    phase = _Phase()
    assert math.isnan(phase.rate) and math.isnan(phase.total_rate)
    phase.start(10.0)
    phase.count(8)
    assert phase.running_rate(12.0) == pytest.approx(4.0)
    phase.stop(14.0)
    phase.count(8)  # training after a mid-epoch validation: outside the clock
    phase.stop(20.0)  # a second stop (the epoch's end) changes nothing
    assert (phase.samples, phase.seconds, phase.rate) == (8, 4.0, 2.0)
    phase.start(30.0)
    phase.count(6)
    phase.stop(31.0)
    assert (phase.total_samples, phase.total_seconds) == (14, 5.0)
    assert phase.total_rate == pytest.approx(2.8)
