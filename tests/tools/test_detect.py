"""``python -m lnra.tools.detect``: scores of a frame folder equal the test protocol's, a video streams
through with a CSV, timeline and demo MP4; bad input is one clear line and leaves no output."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from helpers.checkpoints import write_paper_state_dict
from PIL import Image

from lnra.data.synthetic import SyntheticSpec, generate_synthetic
from lnra.loading.datamodule import VideoDataModule
from lnra.method.model import Autoencoder3D
from lnra.method.module import LnraModule
from lnra.tools.detect import main, score_frames


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, Autoencoder3D]:
    """A tiny synthetic dataset and a checkpoint in the paper's state-dict format (random weights)."""
    tmp = tmp_path_factory.mktemp("detect")
    root = generate_synthetic(tmp / "synthetic", SyntheticSpec(size=32, train_videos=1, test_videos=1,
                                                              frames_per_video=24))
    ckpt = tmp / "model.pth"
    return root, ckpt, write_paper_state_dict(ckpt)


def _csv(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    return lines[0].split(","), np.array([[float(x) for x in line.split(",")] for line in lines[1:]])


def test_folder_scores_equal_the_test_protocol(setup, tmp_path, capsys):
    root, ckpt, model = setup
    data = VideoDataModule("synthetic", root, tmp_path / "cache", height=32, width=32, eval_batch_size=5)
    module = LnraModule(model)
    pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False).test(
        module, datamodule=data, verbose=False)
    expected = module.evaluation.psnr

    folder = root / "testing" / "frames" / "01"
    assert main(["--ckpt", str(ckpt), "--input", str(folder), "--out", str(tmp_path / "out"),
                 "--height", "32", "--width", "32", "--threshold", "-15"]) == 0
    header, rows = _csv(tmp_path / "out" / "scores.csv")
    assert header == ["frame", "psnr", "anomaly_score", "anomalous"]
    assert rows[:, 0].tolist() == list(range(8, 24 - 7))
    np.testing.assert_allclose(rows[:, 1], expected, rtol=1e-5)
    np.testing.assert_allclose(rows[:, 2], -rows[:, 1], atol=1e-5)
    assert rows[:, 3].tolist() == (rows[:, 2] >= -15).astype(float).tolist()
    assert Image.open(tmp_path / "out" / "timeline.png").size == (900, 260)

    assert main(["--ckpt", str(ckpt), "--input", str(folder), "--out", str(tmp_path / "norm"),
                 "--height", "32", "--width", "32", "--normalize"]) == 0
    _, norm = _csv(tmp_path / "norm" / "scores.csv")
    assert norm[:, 2].min() == 0 and norm[:, 2].max() == 1
    assert np.argmax(norm[:, 2]) == np.argmin(rows[:, 1])


def test_video_file_gives_scores_and_a_demo_video(setup, tmp_path):
    root, ckpt, _ = setup
    video = tmp_path / "clip.mp4"
    frames = sorted((root / "testing" / "frames" / "01").glob("*.jpg"))
    with imageio.get_writer(video, fps=12, codec="libx264", macro_block_size=16) as writer:
        for f in frames:
            writer.append_data(np.asarray(Image.open(f).convert("RGB")))
    out = tmp_path / "out"
    assert main(["--ckpt", str(ckpt), "--input", str(video), "--out", str(out), "--height", "32",
                 "--width", "32", "--video"]) == 0
    _, rows = _csv(out / "scores.csv")
    assert len(rows) == len(frames) - 15
    movie = imageio.get_reader(out / "demo.mp4")
    assert movie.get_meta_data()["fps"] == 12 and movie.count_frames() == len(frames) - 15
    assert sorted(p.name for p in out.iterdir()) == ["demo.mp4", "scores.csv", "timeline.png"]


def test_error_maps_and_mask_video_at_the_input_resolution(setup, tmp_path):
    """The model runs at 16x16; the maps and the mask video come back at the frames' 32x32."""
    root, ckpt, _ = setup
    folder = root / "testing" / "frames" / "01"
    out = tmp_path / "out"
    assert main(["--ckpt", str(ckpt), "--input", str(folder), "--out", str(out), "--height", "16",
                 "--width", "16", "--error-maps", "--pixel-threshold", "0"]) == 0
    maps = sorted((out / "error_maps").iterdir())
    assert [p.name for p in maps] == [f"{t:06d}.png" for t in range(8, 24 - 7)]
    assert np.asarray(Image.open(maps[0])).shape == (32, 32, 3)
    mask = imageio.get_reader(out / "mask.mp4")
    frames = [frame for frame in mask]
    assert len(frames) == len(maps) and frames[0].shape[:2] == (32, 32)
    assert min(f.min() for f in frames) > 200  # threshold 0: every pixel is flagged
    assert sorted(p.name for p in out.iterdir()) == ["error_maps", "mask.mp4", "scores.csv", "timeline.png"]
    assert main(["--ckpt", str(ckpt), "--input", str(folder), "--out", str(out), "--height", "16",
                 "--width", "16", "--pixel-threshold", "4.5", "--overwrite"]) == 0
    assert max(f.max() for f in imageio.get_reader(out / "mask.mp4")) < 50  # above any error: none


def test_scoring_streams(setup):
    """An endless frame source still yields windows: only one window of frames is held."""
    _, _, model = setup

    def endless():
        rng = np.random.default_rng(0)
        while True:
            yield rng.integers(0, 255, (40, 50), dtype=np.uint8)  # resized to the model's 32x32

    windows = list(islice(score_frames(model, endless(), batch_size=4), 6))
    assert [w.frame for w in windows] == list(range(8, 14))
    assert all(np.isfinite(w.psnr) and w.recon_centre.shape == (32, 32) for w in windows)


def test_scoring_decodes_only_the_centre_frames(setup):
    """Scores and error maps need the centre frames alone: the decoder's last layer never runs whole
    (its values equal the protocol's full decode: test_folder_scores_equal_the_test_protocol)."""
    _, _, model = setup
    calls = []
    hook = model.decoder.decoder[-2].register_forward_hook(lambda *_: calls.append(1))
    try:
        frames = (np.full((32, 32), 10 * i, np.uint8) for i in range(20))
        assert len(list(score_frames(model, frames, batch_size=4))) == 5
    finally:
        hook.remove()
    assert not calls


@pytest.mark.parametrize("case", ["short", "empty", "unreadable", "no_ckpt", "foreign_ckpt", "exists"])
def test_bad_input_is_one_clear_line(setup, tmp_path, capsys, case):
    root, ckpt, _ = setup
    source = root / "testing" / "frames" / "01"
    out = tmp_path / "out"
    if case == "short":
        source = tmp_path / "short"
        source.mkdir()
        for f in sorted((root / "testing" / "frames" / "01").glob("*.jpg"))[:10]:
            (source / f.name).write_bytes(f.read_bytes())
    elif case == "empty":
        source = tmp_path / "empty"
        source.mkdir()
    elif case == "unreadable":
        source = tmp_path / "broken.mp4"
        source.write_bytes(b"not a video at all" * 10)
    elif case == "no_ckpt":
        ckpt = tmp_path / "absent.ckpt"
    elif case == "foreign_ckpt":
        ckpt = tmp_path / "linear.pth"
        torch.save({"model_statedict": torch.nn.Linear(3, 3).state_dict()}, ckpt)
    elif case == "exists":
        out.mkdir()
        (out / "scores.csv").write_text("precious")
    code = main(["--ckpt", str(ckpt), "--input", str(source), "--out", str(out), "--height", "32",
                 "--width", "32", "--video"])
    err = capsys.readouterr().err.strip().splitlines()
    expected = {"short": "has 10 frames; scoring needs at least one clip of 16", "empty": "holds no frames",
                "unreadable": "cannot read video", "no_ckpt": "checkpoint not found",
                "foreign_ckpt": "not the paper's 3D autoencoder", "exists": "already exist"}[case]
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and expected in err[0]
    if case == "exists":
        assert (out / "scores.csv").read_text() == "precious"
    else:
        assert not out.exists() or not any(out.iterdir())


def test_a_folder_of_unpadded_frame_names_is_read_in_natural_order(tmp_path):
    """``1.png, 2.png, …, 10.png`` (ffmpeg's default ``%d``) are frames 1, 2, …, 10, as the datasets read
    them, not in the string order that puts 10 before 2."""
    from lnra.tools.detect import open_frames

    for i in range(1, 13):
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(tmp_path / f"{i}.png")
    assert [int(f[0, 0]) for f in open_frames(tmp_path).frames] == [10 * i for i in range(1, 13)]

