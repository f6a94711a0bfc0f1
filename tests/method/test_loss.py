"""The learning-not-to-reconstruct loss (docs/method.md §3): every sample is compared with its own target."""

import torch

from lnra.loading.batches import TrainBatch
from lnra.method.losses import per_sample_mse
from lnra.method.model import Autoencoder3D
from lnra.method.module import LnraModule
from lnra.pseudo.kinds import FIRST_PATCH_KIND, KIND_NORMAL, KIND_SKIP
from lnra.pseudo.selection import PseudoAnomalies
from lnra.pseudo.skip import SkipFrame


class _Brighten:
    """A stand-in patch technique: adds 0.5 everywhere, so the input visibly differs from its target."""

    p = 0.5
    name = "brighten"

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        return clips + 0.5


def _module() -> LnraModule:
    return LnraModule(Autoencoder3D(widths=(4, 8, 8, 8), frames=8, height=16, width=16))


def test_the_loss_is_per_sample_mse():
    recon = torch.zeros(3, 1, 8, 16, 16)
    target = torch.zeros_like(recon)
    target[1] = 1.0
    target[2, :, :4] = 2.0
    assert torch.allclose(per_sample_mse(recon, target), torch.tensor([0.0, 1.0, 2.0]))


def test_training_step_uses_each_samples_target_not_its_input():
    module = _module()
    torch.manual_seed(0)
    clip = torch.rand(4, 1, 8, 16, 16) * 2 - 1
    skip_clip, skip_target = torch.rand_like(clip), torch.rand_like(clip)
    kind = torch.tensor([KIND_NORMAL, KIND_SKIP, FIRST_PATCH_KIND, KIND_NORMAL])
    # One sample of each kind, as the selection produces them (see the next test).
    inputs = torch.stack([clip[0], skip_clip[1], clip[2] + 0.5, clip[3]])
    target = torch.stack([clip[0], skip_target[1], clip[2], clip[3]])
    module.train()
    loss = module.training_step(TrainBatch(inputs, target, kind), 0)
    with torch.no_grad():  # train-mode BatchNorm, as in the step
        recon = module(inputs)
    expected = ((recon - target) ** 2).flatten(1).mean(1).mean()
    assert torch.allclose(loss.detach(), expected, atol=1e-5)
    against_input = ((recon - inputs) ** 2).flatten(1).mean(1).mean()
    assert not torch.allclose(loss.detach(), against_input, atol=1e-3)


def test_selection_builds_input_and_target_per_kind():
    torch.manual_seed(0)
    clip = torch.rand(64, 1, 8, 4, 4)
    skip_clip, skip_target = -torch.rand_like(clip), torch.rand_like(clip) + 5
    pseudo = PseudoAnomalies(skip=SkipFrame(p=0.3, jump=(2,)), patches=[_Brighten()])
    inputs, target, kind = pseudo(clip, skip_clip, skip_target)
    normal, skip, patch = kind == KIND_NORMAL, kind == KIND_SKIP, kind == FIRST_PATCH_KIND
    assert normal.any() and skip.any() and patch.any()
    assert torch.equal(inputs[normal], clip[normal]) and torch.equal(target[normal], clip[normal])
    assert torch.equal(inputs[skip], skip_clip[skip]) and torch.equal(target[skip], skip_target[skip])
    assert torch.allclose(inputs[patch], clip[patch] + 0.5) and torch.equal(target[patch], clip[patch])
