"""Patch pseudo anomalies (docs/method.md §4): a window of an intruder pasted into every frame of a clip.

One mixer serves all four techniques — SmoothMixS, SmoothMixC, CutMix, MixUp-patch — which differ
only in their mask (:mod:`lnra.pseudo.patch_masks`). The paste ``x' = m·patch + (1-m)·x`` is one fused
``lerp`` over the whole batch on the batch's device.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

from lnra.config.options import checked
from lnra.config.types import NonNegative, Probability
from lnra.errors import LnraError
from lnra.pseudo.kinds import Technique
from lnra.pseudo.patch_masks import build_masks, sample_windows
from lnra.pseudo.sources.base import IntruderSource


@checked
class PatchMixer:
    """Pastes intruders from ``source`` with ``technique`` (``smoothmix_s``, ``smoothmix_c``, ``cutmix``,
    ``mixup_patch``); a sample gets it with probability ``p``; α = ``max_size`` bounds the window's side
    as a fraction of the frame; β = ``max_move`` bounds the window's per-frame step in pixels."""

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
        self.technique, self.source = technique, source
        self.p, self.max_size, self.max_move = float(p), float(max_size), int(max_move)
        self.name = name or technique

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        """``clips`` (B, C, T, H, W) in [-1, 1] with an intruder pasted into every sample (a new tensor)."""
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
        if masks.shape != clips.shape:
            return torch.lerp(clips, patch[:, None], masks)
        return torch.lerp(clips, patch[:, None], masks, out=masks)
