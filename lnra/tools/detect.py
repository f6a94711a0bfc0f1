"""Score your own footage: ``python -m lnra.tools.detect --ckpt PATH --input VIDEO_OR_FOLDER --out DIR``.

Frames are read one at a time (a video through OpenCV's ``VideoCapture``, or a folder of images in
sorted name order), prepared exactly as the datasets are (grayscale, bilinear resize to the
checkpoint's resolution, [-1, 1]) and scored with the protocol of docs/method.md §6: stride-1 windows of the
clip length, each scoring its centre frame by PSNR. Only one window of frames is held in memory, so
any length of video fits. The scores are raw (anomaly score = −PSNR, comparable across videos);
``--normalise`` gives the paper's per-video min–max instead. Where in the frame: ``--error-maps`` writes
each scored frame's error heat map and ``--pixel-threshold T`` a mask video of the pixels whose
squared error reaches T (:mod:`lnra.tools.error_map_writer`), both at the input's resolution.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import logging
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from lnra.data.frames import FRAME_EXTENSIONS, read_frame, resize_frame
from lnra.data.pixels import to_unit_range
from lnra.data.video_file import open_video
from lnra.diskio import atomic_path, creatable, made_folder, unreadable
from lnra.errors import LnraError, exit_status
from lnra.method.centre_decode import centre_reconstruction
from lnra.method.model import Autoencoder3D
from lnra.method.scoring import centre_index, frame_psnr, min_max
from lnra.pictures import (
    ErrorColours,
    PanelSpool,
    Timeline,
    save_timeline_png,
    to_uint8,
    write_demo_video,
)
from lnra.run.checkpoints import model_from_checkpoint
from lnra.tools.error_map_writer import ErrorMapWriter

log = logging.getLogger(__name__)

OUTPUTS = {"scores": "scores.csv", "timeline": "timeline.png", "video": "demo.mp4",
           "error_maps": "error_maps", "mask": "mask.mp4"}


@dataclass
class FrameSource:
    """Grayscale uint8 frames of one video, read lazily, and the frame rate if the file says."""

    name: str
    frames: Iterator[np.ndarray]
    fps: float | None


def _video_frames(path: Path) -> FrameSource:
    video = open_video(path)
    grey = (cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) for rgb in video.frames)  # OpenCV's luma, as the frames'
    return FrameSource(path.stem, grey, video.fps)


def open_frames(path: Path) -> FrameSource:
    """A video file or a folder of frame images, as a lazy stream of grayscale frames."""
    path = Path(path)
    problem = unreadable(path, "input")
    if problem:
        raise LnraError(f"{problem} (give a video file or a folder of frames)")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS)
        if not files:
            raise LnraError(f"no frames in {path} (expected images {', '.join(FRAME_EXTENSIONS)})")
        return FrameSource(path.name, (read_frame(f) for f in files), None)
    return _video_frames(path)


@dataclass
class WindowScore:
    frame: int  # the scored (centre) frame
    psnr: float
    input_centre: np.ndarray  # uint8, for pictures
    recon_centre: np.ndarray
    error: np.ndarray  # float32 (h, w) squared error of the centre frame, for error maps


@torch.no_grad()
def score_frames(model: Autoencoder3D, frames: Iterator[np.ndarray], batch_size: int = 8,
                 device: torch.device | str = "cpu") -> Iterator[WindowScore]:
    """Slide stride-1 windows over a frame stream and score each window's centre frame.

    Holds the last ``clip_len`` frames and one batch of windows, nothing more; decodes only the centre
    frames (:func:`~lnra.method.centre_decode.centre_reconstruction`), all that scores and maps use.
    """
    clip_len, height, width = model.clip_shape
    c = centre_index(clip_len)
    recent: deque[torch.Tensor] = deque(maxlen=clip_len)
    batch: list[torch.Tensor] = []
    first_window = 0
    count = 0

    def run(windows: list[torch.Tensor], start: int) -> Iterator[WindowScore]:
        clips = torch.stack(windows).unsqueeze(1).to(device)  # (B, 1, T, H, W)
        recon, centre = centre_reconstruction(model, clips), clips[:, :, c]  # (B, 1, H, W)
        psnr = frame_psnr(recon, centre).cpu().tolist()
        inputs, recons = to_uint8(centre[:, 0]), to_uint8(recon[:, 0])
        errors = (recon[:, 0].float() - centre[:, 0].float()).pow(2).cpu().numpy()
        for i, value in enumerate(psnr):
            yield WindowScore(start + i + c, value, inputs[i], recons[i], errors[i])

    for frame in frames:
        recent.append(to_unit_range(torch.tensor(resize_frame(frame, height, width))))
        count += 1
        if len(recent) == clip_len:
            batch.append(torch.stack(tuple(recent)))
            if len(batch) == batch_size:
                yield from run(batch, first_window)
                first_window += len(batch)
                batch = []
    if count < clip_len:
        raise LnraError(f"the input has {count} frames; scoring needs at least one clip of {clip_len}")
    if batch:
        yield from run(batch, first_window)


def _check_outputs(out: Path, wanted: set[str], overwrite: bool) -> dict[str, Path]:
    """The output files, in a folder that can be written and holding none of them unless ``overwrite``."""
    problem = creatable(out)
    if problem:
        raise LnraError(f"--out {out}: {problem}")
    paths = {k: out / name for k, name in OUTPUTS.items() if k in {"scores", "timeline"} | wanted}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise LnraError(f"{', '.join(existing)} already exist; choose another --out or add --overwrite")
    return paths


def detect(ckpt: Path, source: Path, out: Path, threshold: float | None = None, normalise: bool = False,
           video: bool = False, fps: float | None = None, batch_size: int = 8, device: str = "cpu",
           clip_len: int | None = None, height: int | None = None, width: int | None = None,
           overwrite: bool = False, error_maps: bool = False, pixel_threshold: float | None = None
           ) -> dict[str, Path]:
    """Score one video; write ``scores.csv``, ``timeline.png`` and optionally ``demo.mp4``, per-frame
    ``error_maps/`` and the thresholded ``mask.mp4`` into ``out``."""
    out = Path(out)
    wanted = {k for k, on in (("video", video), ("error_maps", error_maps),
                              ("mask", pixel_threshold is not None)) if on}
    paths = _check_outputs(out, wanted, overwrite)
    model, _ = model_from_checkpoint(Path(ckpt), clip_len, height, width)
    model.to(device)
    frames = open_frames(Path(source))
    clip_frames = model.clip_shape[0]
    first_clip = list(itertools.islice(frames.frames, clip_frames))  # read before --out is made
    if len(first_clip) < clip_frames:
        raise LnraError(f"the input {source} has {len(first_clip)} frames; scoring needs at least one clip "
                        f"of {clip_frames}")
    size = first_clip[0].shape[:2]  # the error maps' size
    maps = ErrorMapWriter(size, paths.get("error_maps"), paths.get("mask"), pixel_threshold,
                          fps or frames.fps or 25.0)
    with made_folder(out):  # removed again if scoring fails (a damaged frame further on)
        spool = PanelSpool(out / f".{frames.name}.spool", *model.clip_shape[1:]) if video else None
        try:
            scored_frames, psnr = [], []
            with maps:
                for window in score_frames(model, itertools.chain(first_clip, frames.frames), batch_size,
                                           device):
                    scored_frames.append(window.frame)
                    psnr.append(window.psnr)
                    if spool is not None:
                        spool.append(window.frame, window.input_centre, window.recon_centre)
                    maps.add(window.frame, window.error)
            n_frames = scored_frames[-1] + clip_frames - centre_index(clip_frames)
            frame_index, psnr = np.asarray(scored_frames), np.asarray(psnr, dtype=np.float64)
            score = 1.0 - min_max(psnr) if normalise else -psnr
            flagged = score >= threshold if threshold is not None else None
            with atomic_path(paths["scores"]) as tmp, open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                flag_column = ["anomalous"] if flagged is not None else []
                writer.writerow(["frame", "psnr", "anomaly_score", *flag_column])
                for i, t in enumerate(frame_index):
                    extra = [int(flagged[i])] if flagged is not None else []
                    writer.writerow([int(t), f"{psnr[i]:.6f}", f"{score[i]:.6f}", *extra])
            ylabel = "anomaly score (1 - min-max PSNR)" if normalise else "anomaly score (-PSNR, dB)"
            timeline = Timeline(frames.name, frame_index, score, None, n_frames, ylabel, threshold)
            save_timeline_png(timeline, paths["timeline"])
            if spool is not None:
                write_demo_video(paths["video"], timeline, spool.read(), model.clip_shape[1:], ErrorColours(),
                                 fps or frames.fps or 25.0)
        finally:
            if spool is not None:
                spool.discard()
    return paths


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lnra.tools.detect", description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", required=True, type=Path, help="an lnra .ckpt or the paper's original .pth")
    p.add_argument("--input", required=True, type=Path, help="a video file or a folder of frames")
    p.add_argument("--out", required=True, type=Path, help="folder for scores.csv, timeline.png, demo.mp4")
    p.add_argument("--threshold", type=float, help="flag frames with anomaly_score >= this")
    p.add_argument("--normalise", "--normalize", action="store_true",
                   help="per-video min-max scores (the paper)")
    p.add_argument("--video", action="store_true", help="also write demo.mp4 (panels and score curve)")
    p.add_argument("--fps", type=float, help="frame rate of demo.mp4 (default: the input's, else 25)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--clip-len", type=int, help="override the checkpoint's clip length")
    p.add_argument("--height", type=int, help="override the checkpoint's frame height")
    p.add_argument("--width", type=int, help="override the checkpoint's frame width")
    p.add_argument("--error-maps", action="store_true",
                   help="also write error_maps/<frame>.png: each scored frame's error heat map")
    p.add_argument("--pixel-threshold", type=float,
                   help="also write mask.mp4: white where a pixel's squared error (in [-1, 1] units) >= this")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def work() -> None:
        paths = detect(args.ckpt, args.input, args.out, args.threshold, args.normalise, args.video, args.fps,
                       args.batch_size, args.device, args.clip_len, args.height, args.width, args.overwrite,
                       args.error_maps, args.pixel_threshold)
        for path in paths.values():
            print(path)

    return exit_status(work)


if __name__ == "__main__":
    sys.exit(main())
