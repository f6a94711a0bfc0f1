"""The autoencoder of docs/method.md §2: shapes, layer layout, output range and early shape errors."""

import pytest
import torch
from torch import nn

from lnra.errors import LnraError
from lnra.model import Autoencoder3D


def test_clip_reconstructs_to_the_same_shape_in_unit_range():
    model = Autoencoder3D(frames=16, height=32, width=48).eval()
    x = torch.rand(2, 1, 16, 32, 48) * 2 - 1
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert y.min() >= -1 and y.max() <= 1


def test_full_resolution_parameter_count_and_bottleneck():
    model = Autoencoder3D()
    n_params = sum(p.numel() for p in model.parameters())
    assert 5.9e6 < n_params < 6.2e6  # "about 6.1 M"
    with torch.no_grad():
        z = model.encoder(torch.zeros(1, 1, 16, 256, 256))
    assert z.shape == (1, 256, 2, 16, 16)


def test_layer_layout_matches_the_original_state_dict_keys():
    keys = Autoencoder3D(height=32, width=32).state_dict().keys()
    assert "encoder.encoder.0.weight" in keys and "encoder.encoder.10.running_mean" in keys
    assert "decoder.decoder.9.weight" in keys
    model = Autoencoder3D(height=32, width=32)
    convs = [m for m in model.encoder.encoder if isinstance(m, nn.Conv3d)]
    assert [c.stride for c in convs] == [(1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2)]
    assert [c.out_channels for c in convs] == [96, 128, 256, 256]
    deconvs = [m for m in model.decoder.decoder if isinstance(m, nn.ConvTranspose3d)]
    assert [d.out_channels for d in deconvs] == [256, 128, 96, 1]
    assert deconvs[-1].stride == (1, 2, 2) and deconvs[-1].output_padding == (0, 1, 1)
    assert isinstance(model.decoder.decoder[-1], nn.Tanh)


def test_configurable_width_and_channels():
    model = Autoencoder3D(in_channels=3, widths=(8, 16, 32, 32), frames=8, height=16, width=16).eval()
    assert model(torch.zeros(1, 3, 8, 16, 16)).shape == (1, 3, 8, 16, 16)


@pytest.mark.parametrize(("frames", "height", "width", "needle"), [
    (16, 250, 256, "not a multiple of 16"),
    (16, 256, 100, "not a multiple of 16"),
    (12, 256, 256, "not a multiple of 8"),
])
def test_impossible_shapes_fail_at_construction(frames, height, width, needle):
    with pytest.raises(LnraError, match=needle):
        Autoencoder3D(frames=frames, height=height, width=width)
