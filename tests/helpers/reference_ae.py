"""The autoencoder of docs/method.md §2 written out from its layer table with plain torch modules and no
lnra code, so that lnra's model and its checkpoint loading are compared with an independent reference
rather than with themselves."""

from __future__ import annotations

from torch import nn

PAPER_WIDTHS = (96, 128, 256, 256)


def encoder_table(in_channels: int, widths: tuple[int, ...]) -> list[dict]:
    """Each Conv3d of the encoder: kernel 3, padding 1, bias; each followed by BatchNorm3d, LeakyReLU(0.2)."""
    ins = (in_channels, *widths[:3])
    strides = ((1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2))
    return [{"in": i, "out": o, "stride": s} for i, o, s in zip(ins, widths, strides, strict=True)]


def decoder_table(in_channels: int, widths: tuple[int, ...]) -> list[dict]:
    """Each ConvTranspose3d of the decoder: kernel 3, padding 1, bias; BatchNorm3d + LeakyReLU(0.2) after
    all but the last, which is followed by Tanh."""
    ins = (widths[3], widths[3], widths[1], widths[0])
    outs = (widths[3], widths[1], widths[0], in_channels)
    strides = ((2, 2, 2), (2, 2, 2), (2, 2, 2), (1, 2, 2))
    pads = ((1, 1, 1), (1, 1, 1), (1, 1, 1), (0, 1, 1))
    return [{"in": i, "out": o, "stride": s, "output_padding": p}
            for i, o, s, p in zip(ins, outs, strides, pads, strict=True)]


class ReferenceEncoder(nn.Module):
    def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = PAPER_WIDTHS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for row in encoder_table(in_channels, widths):
            layers += [nn.Conv3d(row["in"], row["out"], 3, stride=row["stride"], padding=1),
                       nn.BatchNorm3d(row["out"]), nn.LeakyReLU(0.2, inplace=True)]
        self.encoder = nn.Sequential(*layers)

    def forward(self, x):
        return self.encoder(x)


class ReferenceDecoder(nn.Module):
    def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = PAPER_WIDTHS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        rows = decoder_table(in_channels, widths)
        for k, row in enumerate(rows):
            layers.append(nn.ConvTranspose3d(row["in"], row["out"], 3, stride=row["stride"], padding=1,
                                             output_padding=row["output_padding"]))
            layers += [nn.Tanh()] if k == len(rows) - 1 else [nn.BatchNorm3d(row["out"]),
                                                               nn.LeakyReLU(0.2, inplace=True)]
        self.decoder = nn.Sequential(*layers)

    def forward(self, x):
        return self.decoder(x)
