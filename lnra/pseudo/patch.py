"""Patch pseudo anomalies (docs/method.md §4): one mixer for four techniques that differ only in their mask
(:class:`MaskRule`). Masks are separable and windows move in closed form: no loop over pixels or frames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, NamedTuple

import torch
from pydantic import Field

from lnra.config.options import checked
from lnra.config.types import NonNegative, Probability
from lnra.errors import LnraError
from lnra.pseudo.kinds import Technique
from lnra.pseudo.sources import IntruderSource

MIN_SIZE = 10  # pixels: the smallest window side, whatever α draws (docs/method.md §4)


@dataclass(frozen=True)
class MaskRule:
    """What distinguishes one technique's mask (docs/method.md §4)."""

    gaussian: bool = False  # a Gaussian bump with σ = the window's size instead of a box (SmoothMixC)
    ramp: float = 0.0  # the box's smooth border as a fraction of its half-size (0: a hard edge)
    keep_size_at_border: bool = False  # the far edge measured from the clipped near edge (CutMix)
    gain: float = 1.0  # the value inside (0.5: MixUp)
    centre_inclusive: bool = False  # centres drawn from 0..W, not 0..W-1 (SmoothMixC)


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


class Windows(NamedTuple):
    """Per sample the window's size and, per frame, its centre."""

    cx: torch.Tensor  # (B, T), or (B, 1) when the window does not move
    cy: torch.Tensor
    width: torch.Tensor  # (B,)
    height: torch.Tensor


def clipped_walk(start: torch.Tensor, steps: torch.Tensor, upper: int) -> torch.Tensor:
    """Positions (B, S+1) of walks from ``start`` (B,) adding ``steps`` (B, S), each clipped to [0, upper],
    without a loop: the double-sided Skorokhod reflection of ψ = start + cumsum (Kruk et al., 2007),
    ``x(t) = ψ(t) - max(min(0, min_{u≤t} ψ(u)), max_{s≤t} min(ψ(s) - upper, min_{s≤u≤t} ψ(u)))``."""
    psi = torch.cat([start[:, None], start[:, None] + steps.cumsum(1)], dim=1)
    idx = torch.arange(psi.shape[1], device=psi.device)
    s, t, u = idx[:, None, None], idx[None, :, None], idx[None, None, :]
    big = torch.iinfo(psi.dtype).max
    # running[b, s, t] = min of ψ over u in [s, t] (defined for s <= t)
    running = torch.where((u >= s) & (u <= t), psi[:, None, None, :], big).amin(-1)
    below = torch.clamp(running[:, 0, :], max=0)
    ordered = idx[:, None] <= idx[None, :]
    above = torch.where(ordered, torch.minimum(psi[:, :, None] - upper, running), -big).amax(1)
    return psi - torch.maximum(below, above)


def sample_windows(technique: str, batch: int, frames: int, height: int, width: int, max_size: float,
                   max_move: int, device: torch.device | str = "cpu") -> Windows:
    """Random windows, drawn as docs/method.md §4 (Window, Moving window) says."""
    extra = 1 if rule_of(technique).centre_inclusive else 0
    cx = torch.randint(0, width + extra, (batch,), device=device)
    cy = torch.randint(0, height + extra, (batch,), device=device)
    w = (torch.rand(batch, device=device) * max_size * width).long().clamp(min=MIN_SIZE)
    h = (torch.rand(batch, device=device) * max_size * height).long().clamp(min=MIN_SIZE)
    if max_move == 0:
        return Windows(cx[:, None], cy[:, None], w, h)
    steps = torch.randint(-max_move, max_move + 1, (2, batch, frames - 1), device=device)
    return Windows(clipped_walk(cx, steps[0], width), clipped_walk(cy, steps[1], height), w, h)


def profile(rule: MaskRule, centre: torch.Tensor, size: torch.Tensor, length: int) -> torch.Tensor:
    """One axis's mask, (B, T, length) in [0, 1], for centres (B, T) and sizes (B,) (docs/method.md §4)."""
    x = torch.arange(length, device=centre.device, dtype=torch.float32)
    c, size = centre[..., None], size[:, None, None]
    if rule.gaussian:
        return torch.exp(-((x - c) ** 2) / (2 * size.float() ** 2))
    half = size // 2
    lo = (c - half).clamp(0, length)
    if rule.ramp > 0:
        hi = (c + half).clamp(0, length)
        r = rule.ramp * half
        return torch.where(x < c, ((x - (lo - r)) / r).clamp(0, 1), (((hi + r) - x) / r).clamp(0, 1))
    hi = ((lo + size) if rule.keep_size_at_border else (c + half)).clamp(0, length)
    return ((x >= lo) & (x < hi)).float()


def build_masks(technique: str, windows: Windows, height: int, width: int,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """Masks (B, T or 1, H, W) for ``x' = m·patch + (1-m)·x``, into ``out`` if given (clip-sized)."""
    rule = rule_of(technique)
    rows = profile(rule, windows.cy, windows.height, height) * rule.gain
    cols = profile(rule, windows.cx, windows.width, width)
    return torch.mul(rows[..., :, None], cols[..., None, :], out=out)


@checked
class PatchMixer:
    """Pastes intruders from ``source`` with ``technique`` (docs/method.md §4)."""

    def __init__(
        self,
        technique: Annotated[Technique, Field(description="how the intruder is blended in (usually "
                                              "${pseudo.technique})")],
        source: IntruderSource,
        p: Annotated[Probability, Field(description="probability that a training sample gets this patch")]
        = 0.2,
        max_size: Annotated[float, Field(gt=0, le=1, description="α: the window's largest side, as a "
                                         "fraction of the frame")] = 0.5,
        max_move: Annotated[NonNegative, Field(description="β: the window's largest step per frame, in "
                                               "pixels")] = 10,
        name: Annotated[str | None, Field(description="its name in logs (null: the technique)")] = None,
    ) -> None:
        self.technique, self.source, self.name = technique, source, name or technique
        self.p, self.max_size, self.max_move = float(p), float(max_size), int(max_move)

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        """``clips`` (B, C, T, H, W) with an intruder pasted into every sample, as one fused ``lerp``."""
        b, _, t, h, w = clips.shape
        if (h, w) != (self.source.height, self.source.width):
            raise LnraError(f"intruders were prepared for {self.source.height}x{self.source.width} frames "
                            f"but the clips are {h}x{w}")
        if self.source.frames not in (1, t):
            raise LnraError(f"intruder clips have {self.source.frames} frames but the clips have {t}")
        windows = sample_windows(self.technique, b, t, h, w, self.max_size, self.max_move, clips.device)
        patch = self.source.sample(b, clips.device).to(clips.dtype)
        # The mask is built in the output's memory and blended there: one clip-sized buffer in all.
        out = torch.empty((b, windows.cx.shape[1], h, w), dtype=clips.dtype, device=clips.device)
        masks = build_masks(self.technique, windows, h, w, out=out)[:, None]
        return torch.lerp(clips, patch[:, None], masks, out=masks if masks.shape == clips.shape else None)
