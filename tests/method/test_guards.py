"""A loss that is not finite stops training at once, with a line naming the epoch, step and pseudo kinds."""

from __future__ import annotations

import re

import pytest
import torch
from helpers.paths import FAST_RUN

import lnra.method.losses
from lnra.errors import LnraError
from lnra.run.tasks import train

FAST = [*FAST_RUN, "trainer.limit_train_batches=4"]
MESSAGE = (r"training loss is (nan|inf) at epoch 0, step (\d+) \(pseudo kinds in the batch: ([a-z_, ]+)\); "
           r"lower the learning rate or check the data")


@pytest.mark.slow  # the inf case below covers the guard by default; this one diverges for real
def test_a_diverging_learning_rate_stops_training_with_the_step_and_kinds(compose_cfg, tmp_path):
    cfg = compose_cfg(*FAST, "model.lr=1e30", "pseudo=skip_frame", "pseudo.skip.p=0.5")
    with pytest.raises(LnraError) as info:
        train(cfg, tmp_path / "run")
    message = str(info.value)
    assert "\n" not in message
    match = re.fullmatch(MESSAGE, message)
    assert match, message
    assert int(match.group(2)) >= 1  # the first step is finite; the huge update breaks the next one
    assert set(match.group(3).split(", ")) <= {"normal", "skip_frame"}
    assert not (tmp_path / "run" / "results.json").exists()


def test_an_infinite_loss_is_caught_at_its_step(compose_cfg, tmp_path, monkeypatch):
    calls = []
    real = lnra.method.losses.per_sample_mse

    def infinite_on_third_call(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        loss = real(recon, target)
        return loss + float("inf") if len(calls) == 3 else loss

    monkeypatch.setattr(lnra.method.losses, "per_sample_mse", infinite_on_third_call)
    expected = r"training loss is inf at epoch 0, step 2 \(pseudo kinds in the batch: normal\)"
    with pytest.raises(LnraError, match=expected):
        train(compose_cfg(*FAST), tmp_path / "run")
