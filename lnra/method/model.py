"""The 3D-convolutional autoencoder of docs/method.md §2, and the decode of only the frame a test window is
scored by (§6, §8). The names ``encoder.encoder.N`` and ``decoder.decoder.N`` are kept so that the paper's
released checkpoints load without renaming."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lnra.config.options import checked
from lnra.config.types import Count
from lnra.data.pixels import ClipLength, FrameSide
from lnra.method.scoring import centre_index


def _frame_local(layer: nn.Module) -> bool:
    """Whether ``layer`` maps each frame on its own (a transposed convolution's frames are planned)."""
    if isinstance(layer, (nn.BatchNorm3d, nn.SyncBatchNorm)):
        return not layer.training and layer.track_running_stats  # batch statistics mix the frames
    return isinstance(layer, (nn.ConvTranspose3d, nn.LeakyReLU, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity))


def plan_frame(layers: Sequence[nn.Module], in_frames: int, frame: int) -> tuple[slice, ...] | None:
    """The frames output ``frame`` of ``layers`` (fed ``in_frames`` frames) depends on: those of the input,
    then per transposed convolution those of its output computed without temporal padding (frame 0: the
    first input frame's first tap); None where cropping is not exact. Input frame i reaches output frames
    ``i·s − p + j·d`` (taps j < k), so output [lo, hi] needs inputs ``⌈(lo + p − d(k−1)) / s⌉ … ⌊(hi + p) /
    s⌋``; unpadded, output o sits at ``o − a·s + p``."""
    if not all(_frame_local(layer) for layer in layers):
        return None
    convs = [(c.kernel_size[0], c.stride[0], c.padding[0], c.dilation[0], c.output_padding[0])
             for c in layers if isinstance(c, nn.ConvTranspose3d)]  # their temporal k, s, p, d, op
    lengths = [in_frames]  # each transposed convolution's input frames
    for k, s, p, d, op in convs[:-1]:
        lengths.append((lengths[-1] - 1) * s - 2 * p + d * (k - 1) + op + 1)
    lo = hi = frame
    keep: list[slice] = []
    for (k, s, p, d, _), length in zip(reversed(convs), reversed(lengths), strict=True):
        a = max(0, -(-(lo + p - d * (k - 1)) // s))
        b = min(length - 1, (hi + p) // s)
        computed = (b - a) * s + d * (k - 1) + 1
        start, stop = lo - a * s + p, hi - a * s + p + 1
        if a > b or start < 0 or stop > computed:  # a wanted frame no input frame reaches: only a bias
            return None
        keep.insert(0, slice(start, stop))
        lo, hi = a, b
    return (slice(lo, hi + 1), *keep)


def decode_frame(layers: Sequence[nn.Module], z: torch.Tensor, frame: int) -> torch.Tensor:
    """Output ``frame`` (B, C', H', W') of ``layers`` applied to ``z``, computing only the frames it depends
    on when that is exact (:func:`plan_frame`)."""
    plan = plan_frame(layers, z.shape[2], frame)
    if plan is None:
        return nn.Sequential(*layers)(z)[:, :, frame]
    x = z[:, :, plan[0]]
    keep = iter(plan[1:])
    for layer in layers:
        if isinstance(layer, nn.ConvTranspose3d):  # no temporal padding, spatial as the layer's
            x = F.conv_transpose3d(x, layer.weight, layer.bias, layer.stride, (0, *layer.padding[1:]),
                                   (0, *layer.output_padding[1:]), layer.groups, layer.dilation)
            x = x[:, :, next(keep)]
        else:
            x = layer(x)
    return x[:, :, 0]


def centre_reconstruction(net: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Each window's reconstructed centre frame (B, C, H, W): the net's own ``reconstruct_centre`` where it
    has one (``torch.compile``'s wrapper passes it on, uncompiled), else its full forward's centre frame."""
    if hasattr(net, "reconstruct_centre"):
        return net.reconstruct_centre(clips)
    return net(clips)[:, :, centre_index(clips.shape[2])]


def eval_macs(net: nn.Module, clips: torch.Tensor, centre_only: bool) -> int:
    """Multiply-accumulates of one evaluation forward of ``clips`` (whole clips or centre frames only),
    counted by ``FlopCounterMode`` on the real code path; on the ``meta`` device without computing."""
    with FlopCounterMode(display=False) as counter:
        if centre_only:
            centre_reconstruction(net, clips)
        else:
            net(clips)
    return counter.get_total_flops() // 2


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
        eval mode only the frames it depends on (:func:`decode_frame`)."""
        return decode_frame(self.decoder.decoder, self.encode(clips), centre_index(clips.shape[2]))
