"""One uniform draw per sample picks at most one pseudo-anomaly kind (docs/method.md §3), for the whole
batch on its device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from lnra.errors import LnraError
from lnra.pseudo.kinds import FIRST_PATCH_KIND, KIND_NORMAL, KIND_SKIP, probability_sum_problem
from lnra.pseudo.skip import SkipFrame


class PatchAnomaly(Protocol):
    """What selection needs from a patch: its probability, a name, and a paste into every sample."""

    p: float
    name: str

    def __call__(self, clips: torch.Tensor) -> torch.Tensor: ...


class PseudoAnomalies:
    """Turns a batch of normal clips (and skip-frame clips) into (input, target, kind) per sample."""

    def __init__(self, skip: SkipFrame | None = None, patches: Sequence[PatchAnomaly] = ()) -> None:
        self.skip, self.patches = skip, list(patches)
        self.kinds = ([KIND_SKIP] if skip else []) + [FIRST_PATCH_KIND + j for j in range(len(self.patches))]
        probabilities = ([skip.p] if skip else []) + [patch.p for patch in self.patches]
        if problem := probability_sum_problem(probabilities):  # each p was checked by its own constructor
            raise LnraError(f"{problem} (got {probabilities})")
        self.enabled_kinds = [k for k, p in zip(self.kinds, probabilities, strict=True) if p > 0]
        self.needs_skip_clips = KIND_SKIP in self.enabled_kinds
        self.kind_names = ["normal", "skip_frame"] + [patch.name for patch in self.patches]  # by kind code
        self._boundaries = torch.tensor(probabilities, dtype=torch.float64).cumsum(0)

    def select(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """Kind code per sample from one uniform draw each."""
        r = torch.rand(batch_size, device=device, dtype=torch.float64)
        bucket = torch.bucketize(r, self._boundaries.to(device), right=True)
        return torch.tensor([*self.kinds, KIND_NORMAL], device=device)[bucket]

    def __call__(self, clip: torch.Tensor, skip_clip: torch.Tensor | None = None,
                 skip_target: torch.Tensor | None = None, kind: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input, target, kind): normal → (clip, clip); patch → (patched clip, clip); skip → (skip clip,
        its consecutive-frame target). ``kind`` given: those codes, not drawn (the preview forces each)."""
        if kind is None:
            kind = (self.select(clip.shape[0], clip.device) if self.enabled_kinds
                    else torch.zeros(clip.shape[0], dtype=torch.long, device=clip.device))
        inputs, target = clip, clip  # normal samples: the clip itself, never modified in place
        if self.needs_skip_clips:
            if skip_clip is None or skip_target is None:
                raise LnraError("skip-frame pseudo anomalies are enabled but the batch has no skip clips")
            sel = (kind == KIND_SKIP).view(-1, *([1] * (clip.dim() - 1)))
            inputs = torch.where(sel, skip_clip, inputs)
            target = torch.where(sel, skip_target, target)
        for j, patch in enumerate(self.patches):
            chosen = (kind == FIRST_PATCH_KIND + j).nonzero().squeeze(1)
            if chosen.numel() == len(kind):
                inputs = patch(clip)
            elif chosen.numel():
                inputs = inputs.clone() if inputs is clip else inputs
                inputs[chosen] = patch(clip[chosen])
        return inputs, target, kind
