"""MemAE's memory and the memory autoencoder (docs/method.md §9): addressing, shrinkage and entropy checked
on hand-made weights, the paper's size, gradients, option errors, and the plain autoencoder left as it was."""

import math
import re

import pytest
import torch

from lnra.errors import LnraError
from lnra.method.memory import Memory, MemoryAutoencoder3D
from lnra.method.model import Autoencoder3D

SMALL = {"widths": (4, 8, 8, 8), "frames": 8, "height": 16, "width": 16}


def _identity_memory(items: int, shrink_threshold: float) -> Memory:
    """A memory whose items are the unit vectors: z·Mᵀ = z, so a query z = log(w) addresses with exactly
    the softmax weights w, and the read ẑ = ŵ·M is the shrunk weights themselves."""
    memory = Memory(items, items, shrink_threshold)
    with torch.no_grad():
        memory.M.copy_(torch.eye(items))
    return memory


def _query(values: list[float]) -> torch.Tensor:
    """One position of a (1, C, 1, 1, 1) feature map."""
    return torch.tensor(values).view(1, -1, 1, 1, 1)


def test_shrinkage_zeroes_weights_below_the_threshold_and_renormalises():
    memory = _identity_memory(4, shrink_threshold=0.1)
    w = torch.tensor([0.6, 0.3, 0.06, 0.04])
    read, entropy = memory(_query(w.log().tolist()))
    shrunk = read.flatten()
    # 0.06 and 0.04 are below λ = 0.1 and become exactly 0; 0.6 and 0.3 keep their ratio: 2/3 and 1/3.
    assert torch.equal(shrunk[2:], torch.zeros(2))
    torch.testing.assert_close(shrunk[:2], torch.tensor([2 / 3, 1 / 3]))
    torch.testing.assert_close(shrunk.sum(), torch.tensor(1.0))
    expected = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    torch.testing.assert_close(entropy, torch.full((1, 1, 1, 1), expected))


@pytest.mark.parametrize("kept", [1, 3, 8])
def test_entropy_of_weights_uniform_over_k_items_is_log_k(kept):
    # Items 0…k-1 point along the query, the others away from it: after the softmax the others weigh
    # about e^-100 and are shrunk to 0, leaving 1/k on each of the k.
    memory = Memory(8, 1, shrink_threshold=0.01)
    with torch.no_grad():
        memory.M.copy_(torch.tensor([1.0] * kept + [-1.0] * (8 - kept)).view(8, 1))
    read, entropy = memory(torch.full((2, 1, 1, 2, 1), 50.0))
    torch.testing.assert_close(entropy, torch.full((2, 1, 2, 1), math.log(kept)))
    torch.testing.assert_close(read, torch.ones(2, 1, 1, 2, 1))  # the mean of k items that all read 1


def test_a_position_with_every_weight_below_the_threshold_reads_zero_not_nan():
    memory = Memory(8, 3, shrink_threshold=0.2)  # uniform weights 1/8 < 0.2
    read, entropy = memory(torch.zeros(1, 3, 2, 1, 1))
    assert torch.equal(read, torch.zeros(1, 3, 2, 1, 1)) and torch.equal(entropy, torch.zeros(1, 2, 1, 1))


def test_memory_reads_every_position_from_its_own_weights():
    # Two positions with different queries in a (1, 2, 1, 1, 2) map read back different items.
    memory = _identity_memory(2, shrink_threshold=0.1)
    z = torch.tensor([[math.log(0.95), math.log(0.05)], [math.log(0.05), math.log(0.95)]]).view(1, 2, 1, 1, 2)
    read, _ = memory(z)
    assert torch.equal(read.view(2, 2), torch.eye(2))  # position 0 reads item 0 only, position 1 item 1


def test_addressing_stays_fp32_under_autocast_and_in_a_bf16_net():
    torch.manual_seed(0)
    memory = Memory(50, 8)
    z = (torch.randn(2, 8, 2, 2, 2) * 3).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        read, entropy = memory(z)
    read_fp32, entropy_fp32 = memory(z.float())
    assert read.dtype == torch.bfloat16 and entropy.dtype == torch.float32
    assert torch.equal(entropy, entropy_fp32) and torch.equal(read, read_fp32.bfloat16())
    memory.bfloat16()  # a net cast to bf16 as a whole, its memory included, addresses in fp32 too
    read, entropy = memory(z)
    assert read.dtype == torch.bfloat16 and entropy.dtype == torch.float32 and entropy.isfinite().all()


def test_memory_initialisation_is_uniform_within_one_over_sqrt_channels():
    torch.manual_seed(0)
    values = Memory(2000, 256).M.detach()
    assert values.shape == (2000, 256)
    assert values.abs().max() <= 1 / 16 and values.abs().max() > 0.99 / 16  # 1/√256, reached in 512,000 draws
    assert abs(float(values.mean())) < 1e-3


def test_paper_size_adds_2000_by_256_parameters_under_memory_m():
    memory_ae, plain = MemoryAutoencoder3D(), Autoencoder3D()
    assert sum(p.numel() for p in plain.parameters()) == 5_980_801
    assert sum(p.numel() for p in memory_ae.parameters()) == 5_980_801 + 512_000
    assert list(memory_ae.state_dict()) == [*plain.state_dict(), "memory.M"]


def test_backbone_initialises_as_the_plain_autoencoder_with_the_same_seed():
    torch.manual_seed(3)
    plain = Autoencoder3D(**SMALL).state_dict()
    torch.manual_seed(3)
    with_memory = MemoryAutoencoder3D(**SMALL).state_dict()
    assert all(torch.equal(value, with_memory[key]) for key, value in plain.items())


def test_forward_returns_the_reconstruction_and_penalties_the_weighted_entropy():
    net = MemoryAutoencoder3D(**SMALL, memory_items=6, shrink_threshold=0.0, entropy_weight=0.5).eval()
    with torch.no_grad():
        net.memory.M.fill_(0.1)  # equal items: uniform weights 1/6 at every position, entropy log 6
        x = torch.rand(2, 1, 8, 16, 16) * 2 - 1
        recon = net(x)
    assert recon.shape == x.shape and recon.abs().max() <= 1
    penalties = net.penalties()
    assert list(penalties) == ["entropy"]
    torch.testing.assert_close(penalties["entropy"], torch.tensor(0.5 * math.log(6)))


def test_the_plain_autoencoder_has_no_penalties():
    assert Autoencoder3D(**SMALL).penalties() == {}


def test_penalties_before_any_forward_is_a_bug():
    with pytest.raises(RuntimeError, match="after a forward"):
        MemoryAutoencoder3D(**SMALL).penalties()


@pytest.mark.parametrize("term", ["reconstruction", "entropy"])
def test_gradients_of_both_loss_terms_reach_the_memory(term):
    torch.manual_seed(0)
    net = MemoryAutoencoder3D(**SMALL, memory_items=10)
    x = torch.rand(2, 1, 8, 16, 16) * 2 - 1
    recon = net(x)
    loss = (recon - x).pow(2).mean() if term == "reconstruction" else net.penalties()["entropy"]
    loss.backward()
    assert net.memory.M.grad is not None and net.memory.M.grad.abs().sum() > 0


@pytest.mark.parametrize(("option", "value", "message"), [
    ("memory_items", 0, "memory_items=0: must be an integer >= 1"),
    ("shrink_threshold", -0.01, "shrink_threshold=-0.01: must be a finite number in [0, 1)"),
    ("shrink_threshold", 1.0, "shrink_threshold=1.0: must be a finite number in [0, 1)"),
    ("shrink_threshold", float("nan"), "shrink_threshold=nan: must be a finite number in [0, 1)"),
    ("entropy_weight", -1e-4, "entropy_weight=-0.0001: must be a finite number >= 0"),
    ("entropy_weight", float("inf"), "entropy_weight=inf: must be a finite number >= 0"),
])
def test_impossible_memory_options_are_refused_naming_the_option(option, value, message):
    with pytest.raises(LnraError, match="^" + re.escape(message)):
        MemoryAutoencoder3D(**SMALL, **{option: value})
