"""Decoding only the frame a test window is scored by (docs/method.md §6).

An output frame of a transposed convolution depends on a few input frames only, so walking the decoder
backwards from the centre frame gives the frames each layer must compute (about three quarters of the full
forward's multiply-accumulates). That is exact only while every other decoder layer treats frames
independently (BatchNorm on running statistics, pointwise activations); any other decoder is decoded in
full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lnra.method.scoring import centre_index

# Layers that map each frame on its own, so that computing them on a few frames is exact.
POINTWISE = (nn.LeakyReLU, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity)


@dataclass(frozen=True)
class FramePlan:
    """Which frames a cropped decode computes: ``first`` of the decoder's input, then for each transposed
    convolution the frames ``keep`` of its output when computed without temporal padding over just the
    frames it was given (frame 0 of that output is the first input frame's first tap)."""

    first: slice
    keep: tuple[slice, ...]


def _frame_local(layer: nn.Module) -> bool:
    if isinstance(layer, nn.ConvTranspose3d):
        return True
    if isinstance(layer, (nn.BatchNorm3d, nn.SyncBatchNorm)):
        return not layer.training and layer.track_running_stats  # batch statistics mix the frames
    return isinstance(layer, POINTWISE)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def plan_frame(layers: Sequence[nn.Module], in_frames: int, frame: int) -> FramePlan | None:
    """The frames that output ``frame`` of ``layers`` (a decoder's layers in order, fed ``in_frames``
    frames) depends on, per transposed convolution; None where cropping would not be exact.

    Transposed convolution (temporal kernel k, stride s, padding p, dilation d) sends input frame i to
    output frames ``i·s − p + j·d`` for taps j < k, so output frames [lo, hi] need input frames
    ``⌈(lo + p − d(k−1)) / s⌉ … ⌊(hi + p) / s⌋``, clipped to those that exist; output_padding only
    lengthens the output. Computed over those frames with temporal padding 0, the output frame o sits
    at ``o − a·s + p`` (a: the first frame given).
    """
    if not all(_frame_local(layer) for layer in layers):
        return None
    convs = [layer for layer in layers if isinstance(layer, nn.ConvTranspose3d)]
    lengths = [in_frames]  # each transposed convolution's input frames
    for conv in convs[:-1]:
        (k, *_), (s, *_), (p, *_), (d, *_), (op, *_) = (
            conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.output_padding)
        lengths.append((lengths[-1] - 1) * s - 2 * p + d * (k - 1) + op + 1)
    lo = hi = frame
    keep: list[slice] = []
    for conv, length in zip(reversed(convs), reversed(lengths), strict=True):
        (k, *_), (s, *_), (p, *_), (d, *_) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
        a = max(0, _ceil_div(lo + p - d * (k - 1), s))
        b = min(length - 1, (hi + p) // s)
        computed = (b - a) * s + d * (k - 1) + 1
        start, stop = lo - a * s + p, hi - a * s + p + 1
        if a > b or start < 0 or stop > computed:  # a wanted frame no input frame reaches: only a bias
            return None
        keep.insert(0, slice(start, stop))
        lo, hi = a, b
    return FramePlan(slice(lo, hi + 1), tuple(keep))


def _cropped_transposed_conv(conv: nn.ConvTranspose3d, x: torch.Tensor, keep: slice) -> torch.Tensor:
    """``conv`` over the frames of ``x`` alone (no temporal padding, spatial as the layer's), the frames
    ``keep`` of its output: with the layer's own weights, bias and dtype rules (autocast applies alike)."""
    out = F.conv_transpose3d(x, conv.weight, conv.bias, conv.stride, (0, *conv.padding[1:]),
                             (0, *conv.output_padding[1:]), conv.groups, conv.dilation)
    return out[:, :, keep]


def decode_frame(layers: Sequence[nn.Module], z: torch.Tensor, frame: int) -> torch.Tensor:
    """Output ``frame`` of ``layers`` applied to ``z`` (B, C, T, H, W) → (B, C', H', W'), computing only
    the frames it depends on when that is exact (:func:`plan_frame`), else the whole output."""
    plan = plan_frame(layers, z.shape[2], frame)
    if plan is None:
        for layer in layers:
            z = layer(z)
        return z[:, :, frame]
    x = z[:, :, plan.first]
    keep = iter(plan.keep)
    for layer in layers:
        if isinstance(layer, nn.ConvTranspose3d):
            x = _cropped_transposed_conv(layer, x, next(keep))
        else:
            x = layer(x)
    return x[:, :, 0]


def centre_reconstruction(net: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Each window's reconstructed centre frame (B, C, H, W), the frame the protocol scores.

    Through the net's own ``reconstruct_centre`` where it has one (:class:`~lnra.method.model.Autoencoder3D`:
    the cropped decode), also behind ``torch.compile``'s wrapper, whose ``_orig_mod`` holds it (that
    method then runs eagerly); any other clip-to-clip model gives its full forward's centre frame.
    """
    own = getattr(getattr(net, "_orig_mod", net), "reconstruct_centre", None)
    if own is not None:
        return own(clips)
    return net(clips)[:, :, centre_index(clips.shape[2])]


def eval_macs(net: nn.Module, clips: torch.Tensor, centre_only: bool) -> int:
    """Multiply-accumulates of one evaluation forward of ``clips``: the full clip, or only the centre
    frames (:func:`centre_reconstruction`). Counted by torch's ``FlopCounterMode`` on the real code path
    (a transposed convolution counts input elements × output channels × taps); on the ``meta`` device it
    counts without computing."""
    with FlopCounterMode(display=False) as counter:
        if centre_only:
            centre_reconstruction(net, clips)
        else:
            net(clips)
    return counter.get_total_flops() // 2
