"""The 3D-convolutional autoencoder of docs/method.md §2. The names ``encoder.encoder.N`` and
``decoder.decoder.N`` are kept so that the paper's released checkpoints load without renaming."""

from __future__ import annotations

from collections import OrderedDict
from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from lnra.config.options import checked
from lnra.config.types import Count
from lnra.data.pixels import ClipLength, FrameSide
from lnra.method.centre_decode import decode_frame
from lnra.method.scoring import centre_index


def _block(conv: nn.Conv3d | nn.ConvTranspose3d) -> list[nn.Module]:
    return [conv, nn.BatchNorm3d(conv.out_channels), nn.LeakyReLU(0.2, inplace=True)]


def _named(name: str, *layers: nn.Module) -> nn.Sequential:
    """``layers`` as the one child ``name`` of a Sequential, which gives the released keys ``name.name.N``."""
    return nn.Sequential(OrderedDict({name: nn.Sequential(*layers)}))


@checked
class Autoencoder3D(nn.Module):
    """Clip in, clip out: (B, C, T, H, W) → (B, C, T, H, W) in [-1, 1]. The clip shape is given at
    construction so that an impossible resolution fails at start-up, not after the data has been cached."""

    def __init__(
        self,
        in_channels: Annotated[Count, Field(description="input channels (1: grey frames)")] = 1,
        widths: Annotated[tuple[Count, Count, Count, Count], Field(description="channels of the four encoder "
                                                                   "stages")] = (96, 128, 256, 256),
        frames: Annotated[ClipLength, Field(description="clip length (a run uses the data's)")] = 16,
        height: Annotated[FrameSide, Field(description="frame height (a run uses the data's)")] = 256,
        width: Annotated[FrameSide, Field(description="frame width (a run uses the data's)")] = 256,
    ) -> None:
        super().__init__()
        self.in_channels, self.clip_shape, self.widths = in_channels, (frames, height, width), tuple(widths)
        w1, w2, w3, w4 = widths
        self.encoder = _named(  # 1 → 96 (t1,h2,w2) → 128 (2,2,2) → 256 (2,2,2) → 256 (2,2,2)
            "encoder",
            *_block(nn.Conv3d(in_channels, w1, 3, (1, 2, 2), 1)),
            *_block(nn.Conv3d(w1, w2, 3, (2, 2, 2), 1)),
            *_block(nn.Conv3d(w2, w3, 3, (2, 2, 2), 1)),
            *_block(nn.Conv3d(w3, w4, 3, (2, 2, 2), 1)),
        )
        self.decoder = _named(  # the mirror: 256 → 256 → 128 → 96 (each 2,2,2) → 1 (1,2,2) with Tanh
            "decoder",
            *_block(nn.ConvTranspose3d(w4, w3, 3, (2, 2, 2), 1, output_padding=(1, 1, 1))),
            *_block(nn.ConvTranspose3d(w3, w2, 3, (2, 2, 2), 1, output_padding=(1, 1, 1))),
            *_block(nn.ConvTranspose3d(w2, w1, 3, (2, 2, 2), 1, output_padding=(1, 1, 1))),
            nn.ConvTranspose3d(w1, in_channels, 3, (1, 2, 2), 1, output_padding=(0, 1, 1)),
            nn.Tanh(),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """What the decoder reads: the encoder's output (a memory autoencoder reads it from its memory)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))

    def penalties(self) -> dict[str, torch.Tensor]:
        """Weighted loss terms by name, added after a forward (a memory's entropy); the plain net has none."""
        return {}

    def reconstruct_centre(self, clips: torch.Tensor) -> torch.Tensor:
        """``self(clips)[:, :, T // 2]`` up to float rounding, the frame a window is scored by, decoding in
        eval mode only the frames it depends on (:func:`~lnra.method.centre_decode.decode_frame`)."""
        return decode_frame(self.decoder.decoder, self.encode(clips), centre_index(clips.shape[2]))
