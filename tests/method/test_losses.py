"""The family's losses (docs/method.md §3, §9): LNTRA compares with each sample's target, STEAL pushes
pseudo anomalies away from their own input. Values are checked against hand computations."""

import pytest
import torch

from lnra.loading.batches import TrainBatch
from lnra.method.losses import LntraLoss, StealLoss, per_sample_mse
from lnra.pseudo.kinds import FIRST_PATCH_KIND, KIND_NORMAL, KIND_SKIP


def _clips(*values: list[float]) -> torch.Tensor:
    """One (1, 2, 1, 2) clip per list of four values: B × (C=1, T=2, H=1, W=2)."""
    return torch.tensor(values).view(len(values), 1, 2, 1, 2)


def _tiny_batch() -> tuple[torch.Tensor, TrainBatch]:
    """A normal sample, a skip-frame sample and a patch sample, with values easy to square by hand."""
    inputs = _clips([0.5, 0.5, 0.5, 0.5], [1, 1, 1, 1], [-1, -1, 0, 0])
    target = _clips([0.5, 0.5, 0.5, 0.5], [0, 0, 0, 0], [0, 0, 0, 0])
    recon = _clips([0.5, 0.5, 0.5, -0.5], [0, 0, 0, 0], [1, 1, 0, 0])
    kind = torch.tensor([KIND_NORMAL, KIND_SKIP, FIRST_PATCH_KIND])
    return recon, TrainBatch(inputs, target, kind)


def test_steal_loss_per_sample_by_hand():
    recon, batch = _tiny_batch()
    # normal: (0 + 0 + 0 + 1²) / 4 against the input; skip: −(1 + 1 + 1 + 1) / 4 against the skipped clip
    # itself, not its target (which the reconstruction matches exactly); patch: −(2² + 2² + 0 + 0) / 4
    # against the patched clip.
    assert torch.equal(StealLoss()(recon, batch), torch.tensor([0.25, -1.0, -2.0]))


def test_lntra_loss_per_sample_by_hand():
    recon, batch = _tiny_batch()
    # normal: against the input; skip: against its consecutive clip (all zeros, as is the reconstruction);
    # patch: against the clean clip, (1 + 1 + 0 + 0) / 4.
    assert torch.equal(LntraLoss()(recon, batch), torch.tensor([0.25, 0.0, 0.5]))


def test_steal_pseudo_values_are_negative_and_bounded_by_tanh_range():
    torch.manual_seed(0)
    inputs = torch.rand(64, 1, 4, 4, 4) * 2 - 1
    recon = torch.tanh(torch.randn_like(inputs) * 5)
    kind = torch.tensor([KIND_NORMAL, KIND_SKIP, FIRST_PATCH_KIND, FIRST_PATCH_KIND + 1] * 16)
    values = StealLoss()(recon, TrainBatch(inputs, torch.zeros_like(inputs), kind))
    pseudo = kind != KIND_NORMAL
    assert (values[~pseudo] > 0).all()
    assert (values[pseudo] < 0).all() and (values[pseudo] >= -4).all()
    # The bound is reached when the output is the exact opposite extreme of the input.
    ones = torch.ones(1, 1, 2, 2, 2)
    worst = StealLoss()(ones, TrainBatch(-ones, ones, torch.tensor([KIND_SKIP])))
    assert torch.equal(worst, torch.tensor([-4.0]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_lntra_loss_is_todays_reconstruction_loss(dtype):
    torch.manual_seed(1)
    for kind_code in (KIND_NORMAL, KIND_SKIP, FIRST_PATCH_KIND, FIRST_PATCH_KIND + 2):
        inputs = torch.rand(5, 1, 8, 16, 16) * 2 - 1
        target = torch.rand_like(inputs) * 2 - 1
        recon = torch.tanh(torch.randn_like(inputs)).to(dtype)
        kind = torch.full((5,), kind_code)
        kind[0] = KIND_NORMAL
        batch = TrainBatch(inputs, target, kind)
        loss = LntraLoss()(recon, batch)
        assert loss.dtype == torch.float32
        assert torch.equal(loss, per_sample_mse(recon, target))


def test_only_steal_needs_pseudo_anomalies():
    assert StealLoss.needs_pseudo_anomalies and StealLoss().needs_pseudo_anomalies
    assert not LntraLoss.needs_pseudo_anomalies
