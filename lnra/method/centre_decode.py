"""Decoding only the frame a test window is scored by (docs/method.md §6, §8): exact only while every decoder
layer but the transposed convolutions treats frames independently; any other decoder is decoded in full."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

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
