"""The autoencoder of docs/method.md §2: shapes, layer layout, output range and early shape errors."""

import pytest
import torch
from helpers.reference_ae import (
    PAPER_WIDTHS,
    ReferenceDecoder,
    ReferenceEncoder,
    decoder_table,
    encoder_table,
)
from torch import nn

from lnra.errors import LnraError
from lnra.method.model import Autoencoder3D


def test_clip_reconstructs_to_the_same_shape_in_unit_range():
    model = Autoencoder3D(frames=16, height=32, width=48).eval()
    x = torch.rand(2, 1, 16, 32, 48) * 2 - 1
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert y.min() >= -1 and y.max() <= 1


# The state dict of the paper's network at full size, key by key (docs/method.md §2): 51 entries.
PAPER_STATE_DICT = [
    ("encoder.encoder.0.weight", (96, 1, 3, 3, 3)),
    ("encoder.encoder.0.bias", (96,)),
    ("encoder.encoder.1.weight", (96,)),
    ("encoder.encoder.1.bias", (96,)),
    ("encoder.encoder.1.running_mean", (96,)),
    ("encoder.encoder.1.running_var", (96,)),
    ("encoder.encoder.1.num_batches_tracked", ()),
    ("encoder.encoder.3.weight", (128, 96, 3, 3, 3)),
    ("encoder.encoder.3.bias", (128,)),
    ("encoder.encoder.4.weight", (128,)),
    ("encoder.encoder.4.bias", (128,)),
    ("encoder.encoder.4.running_mean", (128,)),
    ("encoder.encoder.4.running_var", (128,)),
    ("encoder.encoder.4.num_batches_tracked", ()),
    ("encoder.encoder.6.weight", (256, 128, 3, 3, 3)),
    ("encoder.encoder.6.bias", (256,)),
    ("encoder.encoder.7.weight", (256,)),
    ("encoder.encoder.7.bias", (256,)),
    ("encoder.encoder.7.running_mean", (256,)),
    ("encoder.encoder.7.running_var", (256,)),
    ("encoder.encoder.7.num_batches_tracked", ()),
    ("encoder.encoder.9.weight", (256, 256, 3, 3, 3)),
    ("encoder.encoder.9.bias", (256,)),
    ("encoder.encoder.10.weight", (256,)),
    ("encoder.encoder.10.bias", (256,)),
    ("encoder.encoder.10.running_mean", (256,)),
    ("encoder.encoder.10.running_var", (256,)),
    ("encoder.encoder.10.num_batches_tracked", ()),
    ("decoder.decoder.0.weight", (256, 256, 3, 3, 3)),
    ("decoder.decoder.0.bias", (256,)),
    ("decoder.decoder.1.weight", (256,)),
    ("decoder.decoder.1.bias", (256,)),
    ("decoder.decoder.1.running_mean", (256,)),
    ("decoder.decoder.1.running_var", (256,)),
    ("decoder.decoder.1.num_batches_tracked", ()),
    ("decoder.decoder.3.weight", (256, 128, 3, 3, 3)),
    ("decoder.decoder.3.bias", (128,)),
    ("decoder.decoder.4.weight", (128,)),
    ("decoder.decoder.4.bias", (128,)),
    ("decoder.decoder.4.running_mean", (128,)),
    ("decoder.decoder.4.running_var", (128,)),
    ("decoder.decoder.4.num_batches_tracked", ()),
    ("decoder.decoder.6.weight", (128, 96, 3, 3, 3)),
    ("decoder.decoder.6.bias", (96,)),
    ("decoder.decoder.7.weight", (96,)),
    ("decoder.decoder.7.bias", (96,)),
    ("decoder.decoder.7.running_mean", (96,)),
    ("decoder.decoder.7.running_var", (96,)),
    ("decoder.decoder.7.num_batches_tracked", ()),
    ("decoder.decoder.9.weight", (96, 1, 3, 3, 3)),
    ("decoder.decoder.9.bias", (1,)),
]


def test_full_resolution_parameter_count_and_bottleneck():
    model = Autoencoder3D()
    assert sum(p.numel() for p in model.parameters()) == 5_980_801
    with torch.no_grad():
        z = model.encoder(torch.zeros(1, 1, 16, 256, 256))
    assert z.shape == (1, 256, 2, 16, 16)


def test_state_dict_keys_and_shapes_are_exactly_the_papers():
    state = Autoencoder3D().state_dict()
    assert [(key, tuple(value.shape)) for key, value in state.items()] == PAPER_STATE_DICT


def _check_layer(layer: nn.Module, kind: type, row: dict) -> None:
    assert type(layer) is kind
    assert (layer.in_channels, layer.out_channels) == (row["in"], row["out"])
    assert layer.kernel_size == (3, 3, 3) and layer.padding == (1, 1, 1) and layer.bias is not None
    assert layer.stride == row["stride"] and layer.dilation == (1, 1, 1) and layer.groups == 1
    if kind is nn.ConvTranspose3d:
        assert layer.output_padding == row["output_padding"]


def _check_norm_and_activation(norm: nn.Module, act: nn.Module, channels: int) -> None:
    assert type(norm) is nn.BatchNorm3d and norm.num_features == channels
    assert (norm.eps, norm.momentum, norm.affine, norm.track_running_stats) == (1e-5, 0.1, True, True)
    assert type(act) is nn.LeakyReLU and act.negative_slope == 0.2


def test_every_layer_follows_the_papers_layer_table():
    model = Autoencoder3D()
    encoder, decoder = list(model.encoder.encoder), list(model.decoder.decoder)
    assert len(encoder) == 12 and len(decoder) == 11
    for k, row in enumerate(encoder_table(1, PAPER_WIDTHS)):
        _check_layer(encoder[3 * k], nn.Conv3d, row)
        _check_norm_and_activation(encoder[3 * k + 1], encoder[3 * k + 2], row["out"])
    rows = decoder_table(1, PAPER_WIDTHS)
    for k, row in enumerate(rows):
        _check_layer(decoder[3 * k], nn.ConvTranspose3d, row)
        if k < len(rows) - 1:
            _check_norm_and_activation(decoder[3 * k + 1], decoder[3 * k + 2], row["out"])
    assert type(decoder[-1]) is nn.Tanh


def test_the_reference_built_from_the_table_has_the_same_keys_and_outputs():
    class Reference(nn.Module):
        def __init__(self, widths: tuple[int, ...]) -> None:
            super().__init__()
            self.encoder, self.decoder = ReferenceEncoder(1, widths), ReferenceDecoder(1, widths)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.decoder(self.encoder(x))

    assert [(k, tuple(v.shape)) for k, v in Reference(PAPER_WIDTHS).state_dict().items()] == PAPER_STATE_DICT
    ref = Reference((8, 8, 16, 16)).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for tensor in ref.state_dict().values():
            if tensor.is_floating_point():  # weights near 0.1, BatchNorm statistics and scales near 1
                one_d = tensor.dim() == 1
                random = torch.rand_like(tensor) + 0.5 if one_d else torch.randn_like(tensor) * 0.1
                tensor.copy_(random)
    small = Autoencoder3D(widths=(8, 8, 16, 16), height=32, width=32).eval()
    small.load_state_dict(ref.state_dict())
    x = torch.rand(2, 1, 16, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(small(x), ref(x), rtol=0, atol=0)


def test_configurable_width_and_channels():
    model = Autoencoder3D(in_channels=3, widths=(8, 16, 32, 32), frames=8, height=16, width=16).eval()
    assert model(torch.zeros(1, 3, 8, 16, 16)).shape == (1, 3, 8, 16, 16)


@pytest.mark.parametrize(("frames", "height", "width", "needle"), [
    (16, 250, 256, "height=250: must be a positive multiple of 16"),
    (16, 256, 100, "width=100: must be a positive multiple of 16"),
    (12, 256, 256, "frames=12: must be a positive multiple of 8"),
])
def test_impossible_shapes_fail_at_construction(frames, height, width, needle):
    with pytest.raises(LnraError, match=needle):
        Autoencoder3D(frames=frames, height=height, width=width)
