"""Pictures of what the model does: result images, anomaly timelines and demo videos, drawn with array
operations but the score curve (matplotlib, once per video); a video's frames are spooled to disk."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw
from pydantic import AfterValidator, Field
from scipy.ndimage import binary_erosion

from lnra.config.options import checked
from lnra.config.types import Positive
from lnra.data.pixels import from_unit_range
from lnra.diskio import atomic_path

if TYPE_CHECKING:
    from lnra.method.scoring import Evaluation

PANEL_TITLES = ("input", "reconstruction", "error")
OUTLINE_RGB = (0, 255, 0)  # the ground-truth outline: green reads on both grey frames and the heat map
HEADER_PX = 24  # the titles of a demo video's panels
GRID_HEADER_PX, GRID_GAP_PX = 18, 2  # a labelled grid's column titles and the white between its rows
MACRO_BLOCK = 16  # video encoders want frame sizes divisible by this


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """[-1, 1] → a uint8 NumPy array, for images and videos."""
    return from_unit_range(frames).cpu().numpy()


def _colormap(name: str) -> str:
    """a matplotlib colormap name (inferno, viridis, ...)"""
    if name not in matplotlib.colormaps:
        raise ValueError("unknown matplotlib colormap (e.g. inferno, viridis)")
    return name


Colormap = Annotated[str, AfterValidator(_colormap), Field(description="colours of the error maps")]
ErrorMax = Annotated[Positive, Field(description="the error (|reconstruction - input| in [-1, 1] units) that "
                                     "gets the top colour")]


@checked
class ErrorColours:
    """Colour-maps ``|reconstruction − input|`` in [-1, 1] units with a fixed scale, so maps compare."""

    def __init__(self, colormap: Colormap = "inferno", error_max: ErrorMax = 0.5) -> None:
        cmap = matplotlib.colormaps[colormap]
        self.lut = (cmap(np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
        self.scale = 255.0 / (error_max * 127.5)  # uint8 difference → LUT index

    def level(self, frame: np.ndarray, recon: np.ndarray) -> np.ndarray:
        """Per pixel the LUT index of ``|recon − frame|``: 0 … 255, 255 from ``error_max`` on."""
        diff = np.abs(frame.astype(np.int16) - recon.astype(np.int16)) * self.scale
        return np.minimum(diff, 255).astype(np.uint8)

    def __call__(self, frame: np.ndarray, recon: np.ndarray) -> np.ndarray:
        return self.lut[self.level(frame, recon)]


def localisation_panel(frame: np.ndarray, recon: np.ndarray, colours: ErrorColours,
                       mask: np.ndarray | None = None) -> np.ndarray:
    """The grey frame under the error heat map (as opaque as the error is high), with the outline of the
    ground truth ``mask`` (any resolution), (H, W, 3) uint8."""
    level = colours.level(frame, recon)
    alpha = (level.astype(np.float32) / 255.0)[..., None]
    out = (grey(frame).astype(np.float32) * (1 - alpha) + colours.lut[level] * alpha).round().astype(np.uint8)
    if mask is not None:  # nearest-neighbour resize (pixel centres), then the pixels touching one outside
        rows, cols = (((np.arange(n) + 0.5) * m / n).astype(int)
                      for n, m in zip(frame.shape, mask.shape, strict=True))
        mask = mask[rows[:, None], cols[None, :]]
        out[mask & ~binary_erosion(mask)] = OUTLINE_RGB
    return out


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image


def enlarge_factor(height: int, min_panel: int) -> int:
    return max(1, math.ceil(min_panel / height))


def panel_row(frame: np.ndarray, recon: np.ndarray, colours: ErrorColours, factor: int = 1,
              localise: bool = False, mask: np.ndarray | None = None) -> np.ndarray:
    """Input | reconstruction | error map (| localisation, with ``mask``'s outline), (H·f, n·W·f, 3) uint8."""
    extra = [localisation_panel(frame, recon, colours, mask)] if localise else []
    return enlarge(np.concatenate([grey(frame), grey(recon), colours(frame, recon), *extra], axis=1), factor)


def grey(frame: np.ndarray) -> np.ndarray:
    """(H, W) uint8 → (H, W, 3), to sit beside colour error maps."""
    return np.repeat(frame[..., None], 3, axis=2)


def labelled_grid(rows: Sequence[np.ndarray], labels: Sequence[str], titles: Sequence[str],
                  min_panel: int = 96, label_width: int = 150) -> np.ndarray:
    """Equal-size RGB rows of ``len(titles)`` panels, enlarged to at least ``min_panel`` pixels, under the
    column titles and each labelled on its left: one image that TensorBoard shows at full size."""
    height, width = rows[0].shape[:2]
    factor = enlarge_factor(height, min_panel)
    step, panel_w = height * factor + GRID_GAP_PX, width * factor // len(titles)
    image = Image.new("RGB", (label_width + width * factor, GRID_HEADER_PX + len(rows) * step), "white")
    draw = ImageDraw.Draw(image)
    for i, title in enumerate(titles):
        draw.text((label_width + i * panel_w + 4, 3), title, fill="black")
    for i, (row, label) in enumerate(zip(rows, labels, strict=True)):
        top = GRID_HEADER_PX + i * step
        image.paste(Image.fromarray(np.ascontiguousarray(enlarge(row, factor))), (label_width, top))
        draw.multiline_text((6, top + 4), label, fill="black", spacing=3)
    return np.asarray(image)


def label_spans(labels: np.ndarray) -> list[tuple[int, int]]:
    """Runs of 1s as [start, stop) frame ranges."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(labels, dtype=np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


@dataclass(frozen=True)
class Timeline:
    """One video's scores: scored frame indices, their scores, and the per-frame labels if known."""

    name: str
    frames: np.ndarray
    scores: np.ndarray
    labels: np.ndarray | None = None  # one per frame of the whole video
    n_frames: int | None = None
    ylabel: str = "anomaly score"
    threshold: float | None = None

    @property
    def length(self) -> int:
        return self.n_frames or (len(self.labels) if self.labels is not None else int(self.frames.max()) + 1)


def video_timelines(evaluation: Evaluation) -> Iterator[tuple[int, Timeline]]:
    """Each scored test video of an evaluation, its index and its timeline: the scores the AUC came from."""
    for v, name in enumerate(evaluation.videos.names):
        at = evaluation.video_index == v
        if at.any():
            yield v, Timeline(name, evaluation.frame_index[at], evaluation.anomaly_score[at],
                              evaluation.videos.labels[v])


def _timeline_axes(fig: Figure, rect: tuple[float, float, float, float], timeline: Timeline) -> Axes:
    """The score curve in new axes of ``fig`` at ``rect``, the ground truth shaded."""
    ax = fig.add_axes(rect)
    spans = label_spans(timeline.labels) if timeline.labels is not None else []
    for i, (start, stop) in enumerate(spans):
        ax.axvspan(start - 0.5, stop - 0.5, color="tab:red", alpha=0.2, lw=0,
                   label="ground truth: anomalous" if i == 0 else None)
    ax.plot(timeline.frames, timeline.scores, color="tab:blue", lw=1.2, label=timeline.ylabel)
    if timeline.threshold is not None:
        ax.axhline(timeline.threshold, color="tab:orange", ls="--", lw=1, label="threshold")
    lo, hi = float(np.min(timeline.scores)), float(np.max(timeline.scores))
    pad = 0.05 * (hi - lo or 1.0)
    ax.set(xlim=(-0.5, timeline.length - 0.5), ylim=(lo - pad, hi + pad), xlabel="frame",
           ylabel=timeline.ylabel)
    ax.legend(loc="best", fontsize=7, framealpha=0.8)
    ax.grid(alpha=0.3)
    ax.set_title(timeline.name, fontsize=9)
    return ax


def timeline_figure(timeline: Timeline, width_px: int = 900, height_px: int = 260, dpi: int = 100) -> Figure:
    """The score-vs-frame plot of one video, ground truth shaded (not attached to pyplot)."""
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    _timeline_axes(fig, (60 / width_px, 40 / height_px, 1 - 75 / width_px, 1 - 68 / height_px), timeline)
    return fig


def figure_to_array(fig: Figure) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save_timeline_png(timeline: Timeline, path: Path) -> Figure:
    """Write the timeline PNG; return its figure for other sinks (TensorBoard)."""
    fig = timeline_figure(timeline)
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    return fig


class DemoLayout:
    """A demo video's frame: titles, panels and the score curve below, drawn once; a frame paints a marker."""

    def __init__(self, timeline: Timeline, panel_hw: tuple[int, int], factor: int, dpi: int = 100,
                 titles: tuple[str, ...] = PANEL_TITLES) -> None:
        ph, pw = panel_hw[0] * factor, panel_hw[1] * factor
        width = math.ceil(len(titles) * pw / MACRO_BLOCK) * MACRO_BLOCK
        height = math.ceil((HEADER_PX + ph + max(160, round(width * 0.3))) / MACRO_BLOCK) * MACRO_BLOCK
        curve_h = height - HEADER_PX - ph
        self.panel_box = (HEADER_PX, (width - len(titles) * pw) // 2)
        fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
        FigureCanvasAgg(fig)
        for i, title in enumerate(titles):
            fig.text((self.panel_box[1] + (i + 0.5) * pw) / width, 1 - HEADER_PX / 2 / height, title,
                     ha="center", va="center", fontsize=10)
        ax = _timeline_axes(fig, (55 / width, 46 / height, 1 - 68 / width, (curve_h - 70) / height), timeline)
        self.base = figure_to_array(fig)
        xs = ax.transData.transform(np.c_[np.arange(timeline.length), np.zeros(timeline.length)])[:, 0]
        self.columns = np.clip(np.round(xs).astype(int), 0, width - 2)
        self.rows = slice(int(round(height - ax.bbox.y1)), int(round(height - ax.bbox.y0)))

    def frame(self, frame_index: int, panels: np.ndarray) -> np.ndarray:
        out = self.base.copy()
        top, left = self.panel_box
        out[top : top + panels.shape[0], left : left + panels.shape[1]] = panels
        col = self.columns[frame_index]
        out[self.rows, col : col + 2] = (20, 20, 20)
        return out


def write_demo_video(path: Path, timeline: Timeline, frames: Iterable[tuple[int, np.ndarray, np.ndarray]],
                     panel_hw: tuple[int, int], colours: ErrorColours, fps: float,
                     min_panel: int = 192, masks: Callable[[int], np.ndarray | None] | None = None) -> Path:
    """An MP4 of (frame index, input, reconstruction) triples; ``masks`` (index → mask) adds localisation."""
    factor = enlarge_factor(panel_hw[0], min_panel)
    titles = (*PANEL_TITLES, "localisation") if masks is not None else PANEL_TITLES
    layout = DemoLayout(timeline, panel_hw, factor, titles=titles)
    with atomic_path(path) as tmp, closing(video_writer(tmp, fps, 7, MACRO_BLOCK)) as writer:
        for index, frame, recon in frames:
            mask = None if masks is None else masks(index)
            row = panel_row(frame, recon, colours, factor, localise=masks is not None, mask=mask)
            writer.append_data(layout.frame(index, row))
    return path


def video_writer(path: Path, fps: float, quality: int, macro_block: int) -> Any:
    """An H.264 MP4 writer (imageio's bundled ffmpeg)."""
    import imageio.v2 as imageio

    return imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=quality,
                              macro_block_size=macro_block, ffmpeg_log_level="error")


class PanelSpool:
    """Input and reconstruction centre frames of one video, appended to a raw file on disk."""

    def __init__(self, path: Path, height: int, width: int) -> None:
        self.path, self.shape = Path(path), (2, height, width)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 — kept open while the test epoch appends
        self.frames: list[int] = []

    def append(self, frame_index: int, frame: np.ndarray, recon: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(np.stack([frame, recon])).tobytes())
        self.frames.append(frame_index)

    def read(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(frame index, input, reconstruction) in frame order."""
        self._file.close()
        data = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(len(self.frames), *self.shape))
        for i in np.argsort(self.frames, kind="stable"):
            yield self.frames[i], data[i, 0], data[i, 1]

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
