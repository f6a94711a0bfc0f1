"""Patch masks of docs/method.md §4 for a whole batch and every frame at once: SmoothMixS, SmoothMixC,
CutMix and MixUp-patch.

All four masks are separable — the product of a profile along x and a profile along y — so a mask is
built from two small (B, T, W) and (B, T, H) profiles and one outer product. The four techniques
differ only in a few parameters (:class:`MaskRule`), so there is one implementation for all of them.
The moving window (β > 0) is a random walk of the centre clipped to the frame, computed in closed form
for all frames (:func:`clipped_walk`), so nothing loops over pixels or frames in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lnra.errors import LnraError

MIN_SIZE = 10  # pixels: the smallest window side, whatever α draws (docs/method.md §4)


@dataclass(frozen=True)
class MaskRule:
    """What distinguishes one patching technique's mask from another's.

    ``gaussian``: a Gaussian bump with σ = the window size instead of a box; ``ramp``: the smooth border
    of a box as a fraction of its half-size (0 = hard edge; see :func:`profile` for SmoothMixS's exact
    edges); ``keep_size_at_border``: the box's far edge
    is measured from the clipped near edge, so a box at the border keeps its full size (CutMix);
    ``gain``: the mask value inside (0.5 = MixUp of patch and frame); ``centre_inclusive``: the centre
    is drawn from 0..W instead of 0..W-1 (SmoothMixC's reference draw).
    """

    gaussian: bool = False
    ramp: float = 0.0
    keep_size_at_border: bool = False
    gain: float = 1.0
    centre_inclusive: bool = False


RULES: dict[str, MaskRule] = {
    "smoothmix_s": MaskRule(ramp=0.1),
    "smoothmix_c": MaskRule(gaussian=True, centre_inclusive=True),
    "cutmix": MaskRule(keep_size_at_border=True),
    "mixup_patch": MaskRule(keep_size_at_border=True, gain=0.5),
}


def rule_of(technique: str) -> MaskRule:
    if technique not in RULES:
        raise LnraError(f"unknown patching technique '{technique}'; choose one of {', '.join(RULES)}")
    return RULES[technique]


@dataclass(frozen=True)
class Windows:
    """Per sample the window size and, per frame, its centre: ``cx``/``cy`` (B, T) or (B, 1) when the
    window does not move; ``width``/``height`` (B,)."""

    cx: torch.Tensor
    cy: torch.Tensor
    width: torch.Tensor
    height: torch.Tensor


def clipped_walk(start: torch.Tensor, steps: torch.Tensor, upper: int) -> torch.Tensor:
    """Positions (B, S+1) of walks that start at ``start`` (B,) and add ``steps`` (B, S) one at a time,
    each new position clipped to [0, upper] — without a loop over the steps.

    Sequential clipping is the double-sided Skorokhod reflection of the free walk ψ = start + cumsum;
    for ψ(0) in [0, u] it has the closed form (Kruk, Lehoczky, Ramanan & Shreve, 2007)
    ``x(t) = ψ(t) - max(min(0, min_{u≤t} ψ(u)), max_{s≤t} min(ψ(s) - upper, min_{s≤u≤t} ψ(u)))``,
    evaluated here on a (B, S+1, S+1) table of running minima (tiny: S+1 = 16 frames).
    """
    psi = torch.cat([start[:, None], start[:, None] + steps.cumsum(1)], dim=1)
    n = psi.shape[1]
    idx = torch.arange(n, device=psi.device)
    s, t, u = idx[:, None, None], idx[None, :, None], idx[None, None, :]
    big = torch.iinfo(psi.dtype).max
    # running[b, s, t] = min of ψ over u in [s, t] (defined for s <= t)
    running = torch.where((u >= s) & (u <= t), psi[:, None, None, :], big).amin(-1)
    below = torch.clamp(running[:, 0, :], max=0)
    ordered = idx[:, None] <= idx[None, :]
    above = torch.where(ordered, torch.minimum(psi[:, :, None] - upper, running), -big).amax(1)
    return psi - torch.maximum(below, above)


def sample_windows(
    technique: str,
    batch: int,
    frames: int,
    height: int,
    width: int,
    max_size: float,
    max_move: int,
    device: torch.device | str = "cpu",
) -> Windows:
    """Random windows of docs/method.md §4: centre ``U{0..W-1}`` (``U{0..W}`` for SmoothMixC), side
    ``max(10, int(U(0, α)·W))``; with β > 0 the centre of frame t+1 is that of frame t moved by an
    integer step in ``U{-β..β}`` per axis, clipped to [0, W] and [0, H]."""
    rule = rule_of(technique)
    extra = 1 if rule.centre_inclusive else 0
    cx = torch.randint(0, width + extra, (batch,), device=device)
    cy = torch.randint(0, height + extra, (batch,), device=device)
    w = (torch.rand(batch, device=device) * max_size * width).long().clamp(min=MIN_SIZE)
    h = (torch.rand(batch, device=device) * max_size * height).long().clamp(min=MIN_SIZE)
    if max_move == 0:
        return Windows(cx[:, None], cy[:, None], w, h)
    steps = torch.randint(-max_move, max_move + 1, (2, batch, frames - 1), device=device)
    return Windows(clipped_walk(cx, steps[0], width), clipped_walk(cy, steps[1], height), w, h)


def profile(rule: MaskRule, centre: torch.Tensor, size: torch.Tensor, length: int) -> torch.Tensor:
    """The mask along one axis, (B, T, length), for centres (B, T) and sizes (B,) — values in [0, 1].

    SmoothMixS (``ramp`` > 0), exactly as docs/method.md §4 writes it: with ``x1 = clip(c - size//2)``,
    ``x2 = clip(c + size//2)`` and the float ``r = ramp·(size//2)``, pixel ``x`` has
    ``clip((x - (x1 - r))/r, 0, 1)`` left of the centre (``x < c``) and ``clip(((x2 + r) - x)/r, 0, 1)``
    from the centre on — so ``x1 … x2``, both ends included, are 1 and each side falls to 0 over ``r``.
    Hard box: pixels ``lo <= x < hi`` are inside, with ``lo = clip(c - size//2)`` and ``hi = clip(c +
    size//2)`` (``clip(lo + size)`` when the box keeps its size at the border).
    Gaussian (SmoothMixC): σ = the window's size along this axis. The reference builds the transpose —
    its σ drawn with the width runs along the rows — which on the paper's square frames gives the same
    distribution of masks; lnra keeps each σ on its own axis.
    """
    x = torch.arange(length, device=centre.device, dtype=torch.float32)
    c = centre[..., None]
    size = size[:, None, None]
    if rule.gaussian:
        sigma = size.float()
        return torch.exp(-((x - c) ** 2) / (2 * sigma**2))
    half = size // 2
    lo = (c - half).clamp(0, length)
    if rule.ramp > 0:
        hi = (c + half).clamp(0, length)
        r = rule.ramp * half
        rising = ((x - (lo - r)) / r).clamp(0, 1)
        falling = (((hi + r) - x) / r).clamp(0, 1)
        return torch.where(x < c, rising, falling)
    hi = ((lo + size) if rule.keep_size_at_border else (c + half)).clamp(0, length)
    return ((x >= lo) & (x < hi)).float()


def build_masks(technique: str, windows: Windows, height: int, width: int,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """Masks (B, T, H, W) — (B, 1, H, W) when the window does not move — for ``x' = m·patch + (1-m)·x``;
    written into ``out`` when given (the caller's buffer: a mask is as large as the clips)."""
    rule = rule_of(technique)
    rows = profile(rule, windows.cy, windows.height, height) * rule.gain
    cols = profile(rule, windows.cx, windows.width, width)
    return torch.mul(rows[..., :, None], cols[..., None, :], out=out)
