"""A small synthetic video anomaly dataset, generated from a seed, so that ``python run.py`` runs offline in
minutes and tests get real files in the real layout (docs/guide.md, Datasets: what the videos show)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import Field

from lnra.config.options import checked
from lnra.config.types import Count, Seed
from lnra.data.pixels import FrameSide
from lnra.diskio import atomic_dir
from lnra.errors import LnraError

log = logging.getLogger(__name__)

MANIFEST = "synthetic.json"


@checked
@dataclass(frozen=True)
class SyntheticSpec:
    """Everything the generated pixels depend on."""

    seed: Annotated[Seed, Field(description="the generator's seed")] = 0
    size: Annotated[FrameSide, Field(description="side of the generated frames, in pixels")] = 64
    train_videos: Annotated[Count, Field(description="training videos")] = 6
    test_videos: Annotated[Count, Field(description="test videos")] = 4
    frames_per_video: Annotated[Count, Field(description="frames of each video (at least a clip)")] = 64


class _Mover:
    """An object crossing the frame horizontally, wrapping around at the borders."""

    def __init__(self, rng: np.random.Generator, size: int, patch: np.ndarray, speed: float) -> None:
        self.size, self.patch, self.speed = size, patch, speed
        self.x = rng.uniform(0, size)
        self.y = rng.uniform(0.15 * size, 0.85 * size - patch.shape[0])
        self.direction = rng.choice([-1.0, 1.0])
        self.phase = rng.uniform(0, 2 * np.pi)

    def step(self, img: np.ndarray, t: int, speed: float | None = None) -> None:
        """Move, then draw the patch at its new place, clipped to the frame."""
        h, w = self.patch.shape
        self.x += self.direction * (self.speed if speed is None else speed)
        self.x = (self.x + w) % (self.size + w) - w
        x0, y0 = int(round(self.x)), int(round(self.y + 0.6 * np.sin(0.5 * t + self.phase)))
        xs, ys = max(0, x0), max(0, y0)
        xe, ye = min(img.shape[1], x0 + w), min(img.shape[0], y0 + h)
        if xe > xs and ye > ys:
            img[ys:ye, xs:xe] = self.patch[ys - y0 : ye - y0, xs - x0 : xe - x0]


def _video(rng: np.random.Generator, spec: SyntheticSpec, anomaly: int | None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, S, S) uint8 and labels (T,); ``anomaly`` None for a normal video, else its kind 0..3."""
    s, n = spec.size, spec.frames_per_video
    scale = s / 64
    coarse = torch.from_numpy(rng.uniform(70, 130, (1, 1, 6, 6)))
    smooth = F.interpolate(coarse, size=(s, s), mode="bicubic", align_corners=True)[0, 0].numpy()
    yy, xx = np.mgrid[0:s, 0:s]
    background = smooth + 8.0 * (((xx // 8) + (yy // 8)) % 2) + rng.normal(0, 4, (s, s))
    h, w = max(4, round(10 * scale)), max(2, round(4 * scale))
    walkers = []
    for _ in range(3):
        body = np.full((h, w), rng.uniform(170, 230))
        body[: max(1, h // 4)] += 30  # a brighter head
        walkers.append(_Mover(rng, s, body, rng.uniform(0.4, 0.8) * scale))
    checker = np.kron((np.indices((4, 4)).sum(0) % 2) * 200 + 20, np.ones((max(1, round(4 * scale)),) * 2))
    cart = np.full((max(3, round(7 * scale)), max(6, round(16 * scale))), 235.0)
    spans = ([] if anomaly is None else [(n // 4, n // 4 + n // 3)] if anomaly != 2
             else [(n // 6, n // 6 + n // 5), (n // 2 + 4, n // 2 + 4 + n // 5)])  # kind 2: two events
    odd = _Mover(rng, s, checker if anomaly in (0, 2) else cart, (0.5 if anomaly in (0, 2) else 3.0) * scale)
    frames = np.empty((n, s, s), np.uint8)
    labels = np.zeros(n, np.int64)
    for t in range(n):
        img = background.copy()
        active = [i for i, (a, b) in enumerate(spans) if a <= t < b]
        for k, w in enumerate(walkers):
            running = active and k == 0 and (anomaly == 1 or (anomaly == 2 and active == [1]))
            w.step(img, t, 5.0 * scale if running else None)  # a runner's speed
        if active and (anomaly in (0, 3) or (anomaly == 2 and active == [0])):
            odd.step(img, t)
        labels[t] = 1 if active else 0
        frames[t] = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    return frames, labels


def generate_synthetic(root: Path, spec: SyntheticSpec) -> Path:
    """Write the dataset under ``root``, built aside; one of the same spec is reused, another's refused."""
    manifest = root / MANIFEST
    if manifest.exists():
        try:
            found = json.loads(manifest.read_text())
        except ValueError as err:  # UnicodeDecodeError too
            raise LnraError(f"cannot read {manifest} ({err}); delete {root} to generate it again") from None
        if found != asdict(spec):
            raise LnraError(f"{root} holds a synthetic dataset generated with {found} ({manifest}), not "
                            f"{asdict(spec)}; point dataset.root elsewhere or delete that folder")
        return root
    if root.exists() and any(root.iterdir()):
        raise LnraError(f"{root} exists and is not a synthetic dataset (no {MANIFEST}); choose another root")
    rng = np.random.default_rng(spec.seed)
    train = [_video(rng, spec, None)[0] for _ in range(spec.train_videos)]
    test, labels = zip(*(_video(rng, spec, v % 4) for v in range(spec.test_videos)), strict=True)
    with atomic_dir(root) as tmp:  # root is absent or empty (checked above)
        for split, videos in (("training", train), ("testing", test)):
            for v, frames in enumerate(videos, start=1):
                folder = tmp / split / "frames" / f"{v:02d}"
                folder.mkdir(parents=True)
                for t, frame in enumerate(frames):
                    Image.fromarray(frame).save(folder / f"{t:03d}.jpg", quality=95)
        np.save(tmp / "frame_labels_synthetic.npy", np.concatenate(labels)[None])
        (tmp / MANIFEST).write_text(json.dumps(asdict(spec)))
    log.info("generated the synthetic dataset in %s", root)
    return root
