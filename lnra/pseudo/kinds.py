"""The names of the pseudo-anomaly kinds, free of torch: the options of a variant are typed with them before
anything heavy is imported, and the batches carry their codes."""

from __future__ import annotations

from typing import Literal

KIND_NORMAL = 0
KIND_SKIP = 1
FIRST_PATCH_KIND = 2

# The patch blends of docs/method.md §4 (their masks: lnra.pseudo.patch_masks.RULES).
Technique = Literal["smoothmix_s", "smoothmix_c", "cutmix", "mixup_patch"]
