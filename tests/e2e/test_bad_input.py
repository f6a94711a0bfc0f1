"""Bad input: every case makes the real command fail fast, with one readable line naming the problem on
stderr (no traceback), a non-zero exit code, and no existing file changed.

Each case is its own process running the real ``run.py`` (or ``python -m lnra.<tool>``) with its own
argv, environment, stdout, stderr and exit code. Importing torch and Lightning costs 10-25 s per process
on the shared test machine, so the default suite forks the cases from one server process that imported
them once (``helpers.fork_server``); ``-m slow`` runs every case as a plain subprocess too.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from helpers.fork_server import Result, run_in_subprocess
from helpers.paths import FAST_RUN, tmp_paths

from lnra.data.synthetic import SyntheticSpec, generate_synthetic

SPEC = SyntheticSpec(size=32, train_videos=2, test_videos=2, frames_per_video=32)


# -- the data the cases damage -----------------------------------------------------------------------
@dataclass
class World:
    """A tmp folder with a good tiny dataset, a finished run with checkpoints, and damaged variants."""

    root: Path
    finished_run: Path = field(default=Path())

    @property
    def good(self) -> Path:
        return self.root / "data" / "synthetic"

    def paths(self) -> list[str]:
        return tmp_paths(self.root)

    def variant(self, name: str) -> Path:
        """A copy of the good dataset to damage (under data/, so hashing covers it)."""
        path = self.root / "variants" / name
        if not path.exists():
            shutil.copytree(self.good, path)
        return path


def _snapshot(root: Path) -> dict[str, str]:
    """sha1 of every file under ``root`` except the captured logs."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "logs" not in p.relative_to(root).parts}


def _make_world(root: Path, run) -> World:
    world = World(root)
    generate_synthetic(world.good, SPEC)
    result = run([*world.paths(), *FAST_RUN])
    assert result.rc == 0, result.stderr[-3000:]
    (world.finished_run,) = (root / "outputs" / "runs").iterdir()
    # An interrupted run: a copy of the finished one without results, whose last.ckpt was cut short.
    interrupted = root / "outputs" / "runs" / f"{world.finished_run.name}-7"
    shutil.copytree(world.finished_run, interrupted)
    (interrupted / "results.json").unlink()
    last = interrupted / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    return world


def _cases(w: World) -> list[tuple[str, list[str], str, str | None, bool]]:
    """(name, args, the message's expected text, module or None for run.py, slow)."""
    def dataset(root: Path) -> list[str]:
        return [f"dataset.root={root}", "dataset.generate=null"]

    empty = w.root / "variants" / "empty" / "testing" / "frames"
    empty.mkdir(parents=True, exist_ok=True)
    no_frames = w.variant("no_frames")
    for f in (no_frames / "testing" / "frames" / "02").iterdir():
        f.unlink()
    broken = w.variant("broken_frame")
    (broken / "training" / "frames" / "01" / "005.jpg").write_bytes(b"this is not a jpeg")
    short_labels = w.variant("short_labels")
    np.save(short_labels / "frame_labels_synthetic.npy", np.zeros((1, 63), np.int64))
    not_binary = w.variant("not_binary")
    np.save(not_binary / "frame_labels_synthetic.npy", np.full((1, 64), 2, np.int64))
    no_labels = w.variant("no_labels")
    (no_labels / "frame_labels_synthetic.npy").unlink()
    short_train = w.variant("short_train")
    for video in (short_train / "training" / "frames").iterdir():
        for f in sorted(video.iterdir())[10:]:
            f.unlink()
    best = w.finished_run / "checkpoints" / "best.ckpt"
    truncated = w.root / "checkpoints" / "truncated.ckpt"
    truncated.parent.mkdir(exist_ok=True)
    truncated.write_bytes(best.read_bytes()[:1000])
    not_ckpt = w.root / "checkpoints" / "notes.ckpt"
    not_ckpt.write_text("not a checkpoint")
    short_clip = w.root / "footage" / "short"
    short_clip.mkdir(parents=True, exist_ok=True)
    for f in sorted((w.good / "testing" / "frames" / "01").iterdir())[:5]:
        shutil.copy(f, short_clip)
    bad_video = w.root / "footage" / "broken.mp4"
    bad_video.write_bytes(b"\x00\x00\x00\x18ftypmp42 but then nothing")
    interrupted = f"{w.finished_run}-7"
    p = [*w.paths(), *FAST_RUN]
    detect = ["--ckpt", str(best), "--out", str(w.root / "detected"), "--input"]
    slow, fast = True, False
    return [
        ("missing dataset folder", [*p, *dataset(w.root / "nowhere")], "dataset folder not found", None,
         fast),
        ("empty dataset folder", [*p, *dataset(empty.parent.parent)], "no video folders in", None, fast),
        ("video folder without frames", [*p, *dataset(no_frames)], "holds no frames", None, slow),
        ("broken frame", [*p, *dataset(broken)], "cannot read frame", None, fast),
        ("wrong-length labels", [*p, *dataset(short_labels)],
         "has 63 labels but the 2 test videos have 64", None, fast),
        ("labels not 0/1", [*p, *dataset(not_binary)], "expected 0 (normal) and 1 (anomalous)", None, slow),
        ("missing labels", [*p, *dataset(no_labels)], "label file not found", None, slow),
        ("too-short training videos", [*p, *dataset(short_train)], "has 16 frames (the longest has", None,
         slow),
        ("height not divisible by 16", [*p, "dataset.height=40"],
         "dataset.height=40: must be a positive multiple of 16", None, fast),
        ("clip length not divisible by 8", [*p, "dataset.clip_len=12"],
         "dataset.clip_len=12: must be a positive multiple of 8", None, slow),
        ("skip probability over 1", [*p, "pseudo=skip_frame", "pseudo.skip.p=1.5"],
         "pseudo.skip.p=1.5: must be a number in [0, 1]", None, fast),
        ("probabilities summing over 1", [*p, "pseudo=synthetic_smoothmix", "pseudo.patches.0.p=0.9",
         "+pseudo.skip={p:0.2,jump:[2,3]}"], "probabilities sum to 1.100 > 1", None, slow),
        ("bad jump", [*p, "pseudo=skip_frame", "pseudo.skip.jump=[0,2]"],
         "pseudo.skip.jump=[0,2]: must be a non-empty list (each an integer >= 1)", None, fast),
        ("empty jump", [*p, "pseudo=skip_frame", "pseudo.skip.jump=[]"],
         "pseudo.skip.jump=[]: must be a non-empty list (each an integer >= 1)", None, slow),
        ("bad alpha", [*p, "pseudo=synthetic_smoothmix", "pseudo.patches.0.max_size=1.5"],
         "pseudo.patches.0.max_size=1.5: must be a number in (0, 1]", None, fast),
        ("bad beta", [*p, "pseudo=synthetic_smoothmix", "pseudo.patches.0.max_move=-3"],
         "pseudo.patches.0.max_move=-3: must be an integer >= 0", None, slow),
        ("missing CIFAR-100 intruders", [*p, "pseudo=cifar_smoothmix", f"paths.intruder_dir={w.root}/none"],
         "CIFAR-100 not found in", None, fast),
        ("missing intruder image folder", [*p, "pseudo=imagenet_smoothmix",
         f"paths.intruder_dir={w.root}/none"], "intruder folder not found", None, slow),
        ("missing checkpoint", [*p, "task=test", f"ckpt_path={w.root}/none.ckpt"], "checkpoint not found",
         None, fast),
        ("truncated checkpoint", [*p, "task=test", f"ckpt_path={truncated}"], "cannot read checkpoint", None,
         fast),
        ("not a checkpoint", [*p, "task=test", f"ckpt_path={not_ckpt}"], "cannot read checkpoint", None,
         slow),
        ("checkpoint of another model size", [*p, "task=test", f"ckpt_path={best}",
         "model.net.widths=[16,8,8,8]"], "does not fit the model", None, fast),
        ("training from a truncated checkpoint", [*p, f"ckpt_path={truncated}"], "cannot read checkpoint",
         None, slow),
        ("resume with a truncated last.ckpt", [*p, f"resume={interrupted}"],
         "checkpoints/last.ckpt is damaged (cut off?)", None, fast),
        ("resume with nothing to resume", [*p, "resume=true", "pseudo=skip_frame"],
         "resume: no interrupted run of 'synthetic_skip_frame'", None, fast),
        ("resume a finished run", [*p, f"resume={w.finished_run}"], "that run finished", None, slow),
        ("diverging loss", [*p, "model.lr=1e30", "trainer.limit_train_batches=4"], "training loss is nan",
         None, slow),
        ("unknown task", [*p, "task=fly"], "task=fly: must be one of train | test | preview", None, slow),
        ("detect: too-short video", [*detect, str(short_clip)],
         "has 5 frames; scoring needs at least one clip of 16", "lnra.tools.detect", fast),
        ("detect: unreadable video", [*detect, str(bad_video)], "cannot read video", "lnra.tools.detect",
         slow),
        ("detect: missing input", [*detect, str(w.root / "none.mp4")], "input not found", "lnra.tools.detect",
         slow),
        ("export over an existing file", ["--ckpt", str(best), "--format", "torchscript", "--out",
         str(w.finished_run / "results.json")], "already exists; choose another --out or add --overwrite",
         "lnra.tools.export", fast),
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory, server) -> World:
    return _make_world(tmp_path_factory.mktemp("world"), server.run)


def _check(result: Result, expected: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert result.rc != 0, f"exit code 0; stderr: {result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(errors) == 1, f"expected one 'error: ' line, got {errors} in {result.stderr[-2000:]}"
    assert expected in errors[0], errors[0]
    assert "] model: " not in result.stdout + result.stderr or "training loss" in errors[0], \
        "the model was set up for training before the error"  # lnra.run.console.ModelLine's line
    return errors[0]


def _run_cases(world: World, run, slow: bool) -> list[tuple[str, str, float]]:
    report = []
    for name, args, expected, module, is_slow in _cases(world):
        if is_slow and not slow:
            continue
        before = _snapshot(world.root)
        result = run(args, module)
        after = _snapshot(world.root)
        changed = [k for k, v in before.items() if after.get(k) != v]
        assert not changed, f"{name}: modified {changed[:5]}"
        try:
            line = _check(result, expected)
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from None
        report.append((name, line, result.seconds))
    print("\n| bad input | message | s |\n|---|---|---|")
    for name, line, seconds in report:
        print(f"| {name} | `{line}` | {seconds:.1f} |")
    return report


def test_bad_inputs_fail_fast_with_one_line_and_change_nothing(world, server):
    assert len(_run_cases(world, server.run, slow=False)) >= 15


@pytest.mark.slow
def test_every_bad_input_as_a_plain_subprocess(tmp_path):
    _run_cases(_make_world(tmp_path, run_in_subprocess), run_in_subprocess, slow=True)


def test_hydra_full_error_shows_the_traceback(world, server):
    result = server.run([*world.paths(), *FAST_RUN, "dataset.height=40"], env={"HYDRA_FULL_ERROR": "1"})
    assert result.rc != 0 and "Traceback" in result.stderr and "LnraError" in result.stderr


@pytest.mark.slow
def test_a_stale_cache_is_left_alone_and_a_new_one_built(world, server):
    """A frame changed after caching: the old cache no longer matches, so a new one is built beside it."""
    data = world.variant("stale")
    paths = [*world.paths(), f"paths.cache_dir={world.root}/stale_cache"]
    score = [*paths, *FAST_RUN, f"dataset.root={data}", "dataset.generate=null", "task=test",
             f"ckpt_path={world.finished_run / 'checkpoints' / 'best.ckpt'}"]
    assert server.run(score).rc == 0
    cache = world.root / "stale_cache"
    before = _snapshot(cache)
    frame = data / "testing" / "frames" / "01" / "000.jpg"
    shutil.copy(data / "testing" / "frames" / "01" / "001.jpg", frame)
    result = server.run(score)
    assert result.rc == 0, result.stderr[-2000:]
    after = _snapshot(cache)
    assert all(after[k] == v for k, v in before.items())  # the old cache is untouched ...
    assert len([k for k in after if k.endswith(".npy")]) == len([k for k in before if k.endswith(".npy")]) + 1
