"""Training clips of a video dataset (Ped2, ShanghaiTech) as intruders, sliced from its frame cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from lnra.config.options import checked
from lnra.config.types import Count, FolderName, Location
from lnra.data.frames import list_videos, load_frame_store
from lnra.data.pixels import window_count
from lnra.errors import LnraError
from lnra.pseudo.sources.base import IntruderSource, ShuffledPasses


@checked
class VideoClipSource(IntruderSource):
    """Every training clip of a video dataset (Ped2, ShanghaiTech, …) in the layout of docs/method.md §1,
    sliced from the dataset's frame cache at the frame size: ``clip_len`` consecutive frames of one
    video, in shuffled passes over all clip starts."""

    def __init__(
        self,
        name: Annotated[FolderName, Field(description="the video dataset whose training clips are pasted")],
        root: Annotated[Location, Field(description="that dataset's folder")],
        cache_dir: Annotated[Location, Field(description="its frame cache")],
        height: int,
        width: int,
        clip_len: Annotated[Count, Field(description="frames per intruder clip (a run uses the data's)")] \
        = 16,
    ) -> None:
        root = Path(root)
        split = root / "training" / "frames"
        if not split.is_dir():
            raise LnraError(
                f"intruder videos not found: {split}; expected the {name} training frames in the layout "
                f"{root}/training/frames/<video>/<frame>.jpg (set pseudo.source.root=DATASET_FOLDER)"
            )
        self.store = load_frame_store(list_videos(split), Path(cache_dir), name, "training", height, width)
        per_video = window_count(self.store.lengths, clip_len)
        self.starts = np.concatenate([self.store.offsets[v] + np.arange(n) for v, n in enumerate(per_video)])
        if len(self.starts) == 0:
            raise LnraError(f"no training video in {split} has {clip_len} frames to give an intruder clip")
        self._offsets = np.arange(clip_len)
        self._passes = ShuffledPasses(len(self.starts))
        super().__init__(len(self.starts), clip_len, height, width, f"{name} training clips in {root}")

    def _draw(self, k: int, device: torch.device) -> torch.Tensor:
        first = self.starts[self._passes.take(k).numpy()]
        return torch.from_numpy(self.store.frames[first[:, None] + self._offsets]).to(device)
