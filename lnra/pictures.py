"""Pictures of what the model does: result images, anomaly timelines and demo videos (frames spooled to disk),
drawn with array operations and PIL (matplotlib for colormaps and tick positions only)."""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import matplotlib
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont
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
    """The grey frame under the heat map, as opaque as the error is high; ``mask`` (any size) outlined."""
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
    factor = max(1, math.ceil(min_panel / height))
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


class Timeline(NamedTuple):
    """One video's scores: scored frame indices, their scores, its length and per-frame labels if known."""

    name: str
    frames: np.ndarray
    scores: np.ndarray
    length: int  # frames of the whole video
    labels: np.ndarray | None = None  # one per frame
    ylabel: str = "anomaly score"
    threshold: float | None = None


def video_timelines(evaluation: Evaluation) -> Iterator[tuple[int, Timeline]]:
    """Each scored test video of an evaluation, its index and its timeline: the scores the AUC came from."""
    for v, name in enumerate(evaluation.videos.names):
        at, labels = evaluation.video_index == v, evaluation.videos.labels[v]
        if at.any():
            yield v, Timeline(name, evaluation.frame_index[at], evaluation.anomaly_score[at], len(labels),
                              labels)


BLUE, ORANGE = (31, 119, 180), (255, 127, 14)  # the score curve, the threshold
SHADE, GRID_GREY = (246, 212, 212), (232, 232, 232)  # ground truth: red at 20 % over white
SUPERSAMPLE = 2  # drawn at twice the size and reduced: smooth lines and text


@functools.cache
def _font(px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(px)


def _ticks(lo: float, hi: float, count: int, integer: bool = False) -> list[float]:
    """Round-numbered ticks inside [lo, hi] (matplotlib's locator, without a figure)."""
    return [v for v in MaxNLocator(count, integer=integer).tick_values(lo, hi) if lo <= v <= hi]


class TimelinePlot:
    """Score-vs-frame plots of one size, ground truth shaded, drawn with PIL: 3 ms a plot where matplotlib
    took 42 (17 with its axes reused), which counts as every evaluation draws one per test video."""

    def __init__(self, width_px: int = 900, height_px: int = 260,
                 margins: tuple[int, int, int, int] = (60, 28, 15, 40)) -> None:
        self.width, self.height = width_px, height_px
        self.left, self.top = margins[0], margins[1]  # the plot's box, in pixels
        self.right, self.bottom = width_px - margins[2], height_px - margins[3]

    def columns(self, frames: Any, length: int) -> np.ndarray:
        """The x pixel of each frame index's centre, frame f spanning [f − 0.5, f + 0.5]."""
        return self.left + (np.asarray(frames) + 0.5) / length * (self.right - self.left)

    def image(self, timeline: Timeline) -> np.ndarray:
        """The plot of ``timeline`` as an RGB array (height, width, 3)."""
        k, font = SUPERSAMPLE, _font(10 * SUPERSAMPLE)
        image = Image.new("RGB", (self.width * k, self.height * k), "white")
        draw = ImageDraw.Draw(image)
        left, top, right, bottom = (v * k for v in (self.left, self.top, self.right, self.bottom))
        lo, hi = float(np.min(timeline.scores)), float(np.max(timeline.scores))
        lo, hi = lo - 0.05 * (hi - lo or 1.0), hi + 0.05 * (hi - lo or 1.0)

        def x(frames: Any) -> np.ndarray:
            return self.columns(frames, timeline.length) * k

        def y(values: Any) -> np.ndarray:
            return bottom - (np.asarray(values) - lo) / (hi - lo) * (bottom - top)

        spans = label_spans(timeline.labels) if timeline.labels is not None else []
        for start, stop in spans:
            draw.rectangle([x(start - 0.5), top, x(stop - 0.5), bottom], fill=SHADE)
        for v in _ticks(lo, hi, 6):
            draw.line([(left, y(v)), (right, y(v))], fill=GRID_GREY, width=k)
            draw.text((left - 4 * k, y(v)), f"{round(v, 9):g}", fill="black", font=font, anchor="rm")
        for f in _ticks(0, timeline.length - 1, 10, integer=True):
            draw.line([(x(f), top), (x(f), bottom)], fill=GRID_GREY, width=k)
            draw.text((x(f), bottom + 4 * k), f"{f:g}", fill="black", font=font, anchor="mt")
        curve = list(zip(x(timeline.frames), y(timeline.scores), strict=True))
        draw.line(curve, fill=BLUE, width=2 * k, joint="curve")
        if timeline.threshold is not None:
            level = float(y(timeline.threshold))
            for x0 in range(left, right, 8 * k):  # dashed
                draw.line([(x0, level), (min(x0 + 5 * k, right), level)], fill=ORANGE, width=k)
        draw.rectangle([left, top, right, bottom], outline="black", width=k)
        # the title (left) and legend (right) above the plot, the axis labels: never over the data
        draw.text((left, top - 5 * k), timeline.name, fill="black", font=_font(11 * k), anchor="ld")
        draw.text(((left + right) / 2, bottom + 18 * k), "frame", fill="black", font=font, anchor="mt")
        label = Image.new("RGB", (int(draw.textlength(timeline.ylabel, font)), 14 * k), "white")
        ImageDraw.Draw(label).text((0, 0), timeline.ylabel, fill="black", font=font)
        image.paste(label.rotate(90, expand=True), (4 * k, int((top + bottom - label.width) / 2)))
        entries = [(BLUE, 1, timeline.ylabel)] + [(SHADE, 5, "ground truth: anomalous")] * bool(spans)
        entries += [(ORANGE, 1, "threshold")] * (timeline.threshold is not None)
        end, row = right, top - 10 * k
        for colour, half_height, text in reversed(entries):
            draw.text((end, row), text, fill="black", font=font, anchor="rm")
            end -= draw.textlength(text, font=font) + 22 * k
            draw.rectangle([end, row - half_height * k, end + 16 * k, row + half_height * k], fill=colour)
            end -= 14 * k
        return np.asarray(image.reduce(k))


def png(image: np.ndarray) -> bytes:
    """An RGB array as PNG bytes at compression level 1: a plot's PNG in a fifth of the default's time."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def save_png(data: bytes, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


class DemoLayout:
    """A demo video's frame: titles, panels and the score curve below, drawn once; a frame paints a marker."""

    def __init__(self, timeline: Timeline, panel_hw: tuple[int, int], factor: int,
                 titles: tuple[str, ...] = PANEL_TITLES) -> None:
        ph, pw = panel_hw[0] * factor, panel_hw[1] * factor
        width = math.ceil(len(titles) * pw / MACRO_BLOCK) * MACRO_BLOCK
        height = math.ceil((HEADER_PX + ph + max(160, round(width * 0.3))) / MACRO_BLOCK) * MACRO_BLOCK
        self.panel_box = (HEADER_PX, (width - len(titles) * pw) // 2)
        header = Image.new("RGB", (width, HEADER_PX), "white")
        for i, title in enumerate(titles):
            ImageDraw.Draw(header).text((self.panel_box[1] + (i + 0.5) * pw, HEADER_PX / 2), title,
                                        fill="black", font=_font(13), anchor="mm")
        plot = TimelinePlot(width, height - HEADER_PX - ph, margins=(55, 24, 13, 46))
        self.base = np.concatenate([np.asarray(header), np.full((ph, width, 3), 255, np.uint8),
                                    plot.image(timeline)])
        xs = plot.columns(np.arange(timeline.length), timeline.length)
        self.columns = np.clip(np.round(xs).astype(int), 0, width - 2)
        self.rows = slice(HEADER_PX + ph + plot.top, HEADER_PX + ph + plot.bottom)

    def frame(self, frame_index: int, panels: np.ndarray) -> np.ndarray:
        out = self.base.copy()
        top, left = self.panel_box
        out[top : top + panels.shape[0], left : left + panels.shape[1]] = panels
        col = self.columns[frame_index]
        out[self.rows, col : col + 2] = (20, 20, 20)
        return out


def write_demo_video(path: Path, timeline: Timeline, spool: PanelSpool, colours: ErrorColours, fps: float,
                     min_panel: int = 192, localise: bool = False) -> None:
    """An MP4 of a spool's frames above the score curve, with the localisation panel if ``localise``."""
    factor = max(1, math.ceil(min_panel / spool.shape[1]))
    titles = (*PANEL_TITLES, "localisation") if localise else PANEL_TITLES
    layout = DemoLayout(timeline, spool.shape[1:], factor, titles=titles)
    with atomic_path(path) as tmp, closing(video_writer(tmp, fps, 7, MACRO_BLOCK)) as writer:
        for index, frame, recon, mask in spool.read():
            row = panel_row(frame, recon, colours, factor, localise=localise, mask=mask)
            writer.append_data(layout.frame(index, row))


def video_writer(path: Path, fps: float, quality: int, macro_block: int) -> Any:
    """An H.264 MP4 writer (imageio's bundled ffmpeg)."""
    import imageio.v2 as imageio

    return imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=quality,
                              macro_block_size=macro_block, ffmpeg_log_level="error")


class PanelSpool:
    """One video's input and reconstruction centre frames, appended to a raw file; masks packed: small."""

    def __init__(self, path: Path, height: int, width: int) -> None:
        self.path, self.shape = Path(path), (2, height, width)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 — kept open while the test epoch appends
        self.frames: list[int] = []
        self._masks: list[tuple[np.ndarray, int] | None] = []  # per frame: (packed mask, width) or None

    def append(self, frame_index: int, frame: np.ndarray, recon: np.ndarray, mask: np.ndarray | None = None
               ) -> None:
        self._file.write(np.ascontiguousarray(np.stack([frame, recon])).tobytes())
        self.frames.append(frame_index)
        self._masks.append(None if mask is None else (np.packbits(mask, axis=-1), mask.shape[-1]))

    def read(self) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]:
        """(frame index, input, reconstruction, mask or None) in frame order."""
        self._file.close()
        data = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(len(self.frames), *self.shape))
        for i in np.argsort(self.frames, kind="stable"):
            packed, width = self._masks[i] or (None, 0)
            mask = None if packed is None else np.unpackbits(packed, axis=-1, count=width).astype(bool)
            yield self.frames[i], data[i, 0], data[i, 1], mask

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
