"""Score your own footage: ``python -m lnra.tools.detect --ckpt PATH --input VIDEO_OR_FOLDER --out DIR``.

Frames are prepared and scored as the test set's (docs/method.md §6; docs/guide.md, Looking at results)."""

from __future__ import annotations

import csv
import itertools
import logging
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from PIL import Image

from lnra import pictures
from lnra.data.frames import VideoFile, frame_files, open_video, read_frame, resize_frame
from lnra.data.pixels import to_unit_range
from lnra.diskio import atomic_dir, atomic_path, creatable, made_folder, unreadable
from lnra.errors import LnraError, exit_status
from lnra.method.model import Autoencoder3D, centre_reconstruction
from lnra.method.pixel_metrics import upsample_errors
from lnra.method.scoring import centre_index, frame_psnr, min_max
from lnra.pictures import ErrorColours, PanelSpool, Timeline, to_uint8
from lnra.run.allocator import keep_freed_memory
from lnra.run.checkpoints import model_from_checkpoint
from lnra.tools import checkpoint_parser

OUTPUTS = {"scores": "scores.csv", "timeline": "timeline.png", "video": "demo.mp4",
           "error_maps": "error_maps", "mask": "mask.mp4"}


def open_frames(path: Path) -> VideoFile:
    """A video file or a folder of frame images, as a lazy stream of grayscale frames."""
    if problem := unreadable(path, "input"):
        raise LnraError(f"{problem} (give a video file or a folder of frames)")
    if path.is_dir():
        return VideoFile((read_frame(f) for f in frame_files(path, "input folder")), None)
    video = open_video(path)  # OpenCV's luma, as the frames' reader gives
    return VideoFile((cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) for rgb in video.frames), video.fps)


class WindowScore(NamedTuple):
    frame: int  # the scored (centre) frame
    psnr: float
    input_centre: np.ndarray  # uint8, for pictures
    recon_centre: np.ndarray
    error: np.ndarray  # float32 (h, w) squared error of the centre frame, for error maps


@torch.no_grad()
def score_frames(model: Autoencoder3D, frames: Iterator[np.ndarray], batch_size: int = 8,
                 device: torch.device | str = "cpu") -> Iterator[WindowScore]:
    """Every stride-1 window of a frame stream with its centre frame scored, one batch in memory at a time:
    a batch's B + T - 1 frames cross to the device once, its B windows are views of them (unfold), not B
    stacked copies of T frames each."""
    clip_len, height, width = model.clip_shape
    c = centre_index(clip_len)
    prepared = (to_unit_range(torch.tensor(resize_frame(frame, height, width))) for frame in frames)
    held, first_window = list(itertools.islice(prepared, clip_len - 1)), 0
    while batch := list(itertools.islice(prepared, batch_size)):
        span = held + batch
        run, held = torch.stack(span).to(device), span[len(span) - (clip_len - 1):]  # (B + T - 1, H, W)
        clips = run.unfold(0, clip_len, 1).permute(0, 3, 1, 2).unsqueeze(1).contiguous()  # (B, 1, T, H, W)
        recon, centre = centre_reconstruction(model, clips), clips[:, :, c]  # (B, 1, H, W)
        psnr = frame_psnr(recon, centre).cpu().tolist()
        inputs, recons = to_uint8(centre[:, 0]), to_uint8(recon[:, 0])
        errors = (recon[:, 0].float() - centre[:, 0].float()).pow(2).cpu().numpy()
        for i, value in enumerate(psnr):
            yield WindowScore(first_window + i + c, value, inputs[i], recons[i], errors[i])
        first_window += len(batch)


def _score_into_maps(model: Autoencoder3D, stream: Iterator[np.ndarray], size: tuple[int, int],
                     paths: dict[str, Path], pixel_threshold: float | None, fps: float, colours: ErrorColours,
                     spool: PanelSpool | None, batch_size: int, device: str) -> tuple[list[int], list[float]]:
    """Each window's frame and PSNR, its panels spooled; error maps and mask renamed in once complete."""
    scored_frames, psnr = [], []
    with ExitStack() as outputs:
        maps_tmp = outputs.enter_context(atomic_dir(paths["error_maps"])) if "error_maps" in paths else None
        mask = None
        if pixel_threshold is not None:
            mask = pictures.video_writer(outputs.enter_context(atomic_path(paths["mask"])), fps, 8, 2)
            outputs.callback(mask.close)  # before the rename
        for window in score_frames(model, stream, batch_size, device):
            scored_frames.append(window.frame)
            psnr.append(window.psnr)
            if spool is not None:
                spool.append(window.frame, window.input_centre, window.recon_centre)
            if maps_tmp is None and mask is None:
                continue
            up = upsample_errors(torch.from_numpy(window.error)[None, None], size)[0].numpy()
            if maps_tmp is not None:
                level = np.minimum(np.sqrt(up) * 127.5 * colours.scale, 255).astype(np.uint8)
                Image.fromarray(colours.lut[level]).save(maps_tmp / f"{window.frame:06d}.png",
                                                         compress_level=1)
            if mask is not None:
                mask.append_data(pictures.grey(np.where(up >= pixel_threshold, 255, 0).astype(np.uint8)))
    return scored_frames, psnr


def detect(ckpt: Path, source: Path, out: Path, threshold: float | None = None, normalise: bool = False,
           video: bool = False, fps: float | None = None, batch_size: int = 8, device: str = "cpu",
           clip_len: int | None = None, height: int | None = None, width: int | None = None,
           overwrite: bool = False, error_maps: bool = False, pixel_threshold: float | None = None
           ) -> dict[str, Path]:
    """Score one video into ``out``; bad inputs are found before ``out`` is made (a failure removes it)."""
    if problem := creatable(out):
        raise LnraError(f"--out {out}: {problem}")
    extras = {"video": video, "error_maps": error_maps, "mask": pixel_threshold is not None}
    paths = {k: out / name for k, name in OUTPUTS.items() if extras.get(k, True)}
    if (existing := [str(p) for p in paths.values() if p.exists()]) and not overwrite:
        raise LnraError(f"{', '.join(existing)} already exist; choose another --out or add --overwrite")
    model = model_from_checkpoint(ckpt, clip_len, height, width).to(device)
    frames, clip_frames = open_frames(source), model.clip_shape[0]
    first_clip = list(itertools.islice(frames.frames, clip_frames))  # read before --out is made
    if len(first_clip) < clip_frames:
        raise LnraError(f"the input {source} has {len(first_clip)} frames; scoring needs at least one clip "
                        f"of {clip_frames}")
    fps, colours = fps or frames.fps or 25.0, ErrorColours()
    name = source.name if source.is_dir() else source.stem
    with made_folder(out), ExitStack() as cleanup:  # out removed again if scoring fails (a damaged frame)
        spool = PanelSpool(out / f".{name}.spool", *model.clip_shape[1:]) if video else None
        if spool is not None:
            cleanup.callback(spool.discard)
        scored_frames, psnr = _score_into_maps(
            model, itertools.chain(first_clip, frames.frames), first_clip[0].shape[:2], paths,
            pixel_threshold, fps, colours, spool, batch_size, device)
        n_frames = scored_frames[-1] + clip_frames - centre_index(clip_frames)
        frame_index, psnr = np.asarray(scored_frames), np.asarray(psnr, dtype=np.float64)
        score = 1.0 - min_max(psnr) if normalise else -psnr
        columns = {"frame": frame_index.tolist(), "psnr": [f"{v:.6f}" for v in psnr],
                   "anomaly_score": [f"{v:.6f}" for v in score]}
        if threshold is not None:
            columns["anomalous"] = (score >= threshold).astype(int).tolist()
        with atomic_path(paths["scores"]) as tmp, open(tmp, "w", newline="") as f:
            csv.writer(f).writerows([list(columns), *zip(*columns.values(), strict=True)])
        ylabel = "anomaly score (1 - min-max PSNR)" if normalise else "anomaly score (-PSNR, dB)"
        timeline = Timeline(name, frame_index, score, n_frames, ylabel=ylabel, threshold=threshold)
        pictures.save_png(pictures.png(pictures.TimelinePlot().image(timeline)), paths["timeline"])
        if spool is not None:
            pictures.write_demo_video(paths["video"], timeline, spool, colours, fps)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = checkpoint_parser("python -m lnra.tools.detect", __doc__.split("\n\n")[0])
    p.add_argument("--input", dest="source", metavar="INPUT", required=True, type=Path,
                   help="a video file or a folder of frames")
    p.add_argument("--out", required=True, type=Path, help="folder for scores.csv, timeline.png, demo.mp4")
    p.add_argument("--threshold", type=float, help="flag frames with anomaly_score >= this")
    p.add_argument("--normalise", "--normalize", action="store_true",
                   help="per-video min-max scores (the paper)")
    p.add_argument("--video", action="store_true", help="also write demo.mp4 (panels and score curve)")
    p.add_argument("--fps", type=float, help="frame rate of demo.mp4 (default: the input's, else 25)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--error-maps", action="store_true",
                   help="also write error_maps/<frame>.png: each scored frame's error heat map")
    p.add_argument("--pixel-threshold", type=float,
                   help="also write mask.mp4: white where a pixel's squared error (in [-1, 1] units) >= this")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    keep_freed_memory()
    return exit_status(lambda: print(*detect(**vars(args)).values(), sep="\n"))


if __name__ == "__main__":
    sys.exit(main())
