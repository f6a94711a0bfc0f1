"""The fault matrix: every path option of every command crossed with the ways a path can be wrong, and
every file a command reads crossed with the ways a file can be damaged, generated from the declarations
below (``OPTIONS`` × ``FAULTS``, ``FILES`` × ``DAMAGES``).

Each case runs the real command (``run.py`` or ``python -m <tool>``, forked from one server that imported
everything once: ``helpers.fork_server``) and must end with exit code 2 and one ``error:`` line on stderr
that names the path (and, for a wrong path, says what was wrong: the words of ``Fault.says``), without a
traceback; nothing under the test's folder may be created or changed — no run directory, no output
folder, no file touched (each case compares every file's size and time; the whole folder is hashed
before and after the matrix).

A fault applies where it is one: a folder a command writes may be missing or empty (it is created), a
folder or file it reads cannot be "not creatable"; a damage a command rightly reads past is declared with
its reason (``FileInput.accepted``: the command must then go on, exit code 0, no error). "Not readable"
and "not writable" run the command without root's permission override when the tests run as root
(``helpers.in_child.unprivileged``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from helpers.fork_server import ForkServer, Result
from helpers.in_child import UNPRIVILEGED
from helpers.paths import FAST_RUN, REPO, tmp_paths

from lnra.data.synthetic import SyntheticSpec, generate_synthetic

RUN = "run.py"
DETECT, EXPORT, REPORT, HPARAMS = (f"lnra.tools.{m}" for m in ("detect", "export", "report", "hparams_table"))
PREPARE = "lnra.data.prepare"
FOLDER, FILE, EITHER = "folder", "file", "folder or file"
SPEC = SyntheticSpec(size=32, train_videos=2, test_videos=2, frames_per_video=32)
CANNOT_CREATE = Path("/proc/lnra-fault-matrix")  # no folder can ever be made under /proc


# -- the world the cases read: a tiny dataset, a finished run, their tools' inputs -------------------------
@dataclass
class World:
    root: Path
    finished: Path = field(default=Path())

    @property
    def good(self) -> Path:
        return self.root / "data" / "synthetic"

    @property
    def ckpt(self) -> Path:
        return self.finished / "checkpoints" / "best.ckpt"

    @property
    def video(self) -> Path:
        return self.root / "footage" / "walk.mp4"

    @property
    def frames(self) -> Path:
        return self.good / "testing" / "frames" / "01"

    @property
    def events(self) -> Path:
        """The run's first TensorBoard event file: the one with the HParams session."""
        return sorted((self.finished / "tensorboard").glob("events.out.tfevents.*"))[0]

    def run_args(self, *args: str) -> list[str]:
        return [*tmp_paths(self.root), *FAST_RUN, *args]


def _make_world(root: Path, server: ForkServer) -> World:
    world = World(root)
    generate_synthetic(world.good, SPEC)
    result = server.run(world.run_args("logger=tensorboard"))
    assert result.rc == 0, result.stderr[-3000:]
    (world.finished,) = (root / "outputs" / "runs").iterdir()
    world.video.parent.mkdir()
    imageio.mimwrite(world.video, [imageio.imread(f) for f in sorted(world.frames.iterdir())], fps=10)
    return world


# -- good inputs, made at a given path (what "not readable" takes away, what "damaged" starts from) ---------
def copy_dataset(w: World, path: Path) -> None:
    shutil.copytree(w.good, path)


def copy_ped2(w: World, path: Path) -> None:
    """``paths.data_dir`` of ``dataset=ped2``: ``<data_dir>/ped2`` in the dataset layout."""
    shutil.copytree(w.good, path / "ped2")
    (path / "ped2" / "frame_labels_synthetic.npy").rename(path / "ped2" / "frame_labels_ped2.npy")


def copy_frames(w: World, path: Path) -> None:
    shutil.copytree(w.frames, path)


def image_folder(w: World, path: Path) -> None:
    """Intruders of ``pseudo=imagenet_smoothmix``: ``<intruder_dir>/imagenet/<class>/<image>``."""
    copy_frames(w, path / "imagenet" / "walkers")


def interrupted_run(w: World, path: Path) -> None:
    """A run that stopped after a validation: its checkpoints and no results."""
    shutil.copytree(w.finished, path)
    (path / "results.json").unlink()


def sweep_folder(w: World, path: Path) -> None:
    shutil.copytree(w.finished, path / "0_synthetic_none_seed0")


def copy_file(source: Callable[[World], Path]) -> Callable[[World, Path], None]:
    def make(w: World, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source(w), path)

    return make


def existing_folder(w: World, path: Path) -> None:
    path.mkdir(parents=True)


# -- the path options of every command -------------------------------------------------------------------
@dataclass(frozen=True)
class PathOption:
    """One path a command takes: its option, whether it is a folder or a file, whether the command writes
    it (then a missing or empty one is fine), the command line with the option set to ``path``, and how to
    make a good one there (to take its permission away) or one holding earlier outputs (never replaced)."""

    command: str
    option: str
    kind: str
    writes: bool
    argv: Callable[[World, Path], list[str]]
    good: Callable[[World, Path], None] | None = None
    taken: Callable[[World, Path], None] | None = None


def _detect(w: World, case: Path, ckpt: Path | None = None, input_: Path | None = None,
            out: Path | None = None) -> list[str]:
    """``detect`` with good inputs, writing into the case's folder, but for the one given."""
    out = out or case / "out"
    return ["--ckpt", str(ckpt or w.ckpt), "--input", str(input_ or w.frames), "--out", str(out)]


def _export(ckpt: Path, out: Path) -> list[str]:
    return ["--ckpt", str(ckpt), "--format", "torchscript", "--out", str(out)]


def _ped2(w: World, data_dir: Path) -> list[str]:
    return [*tmp_paths(w.root), "debug=fast", "dataset=ped2", "dataset.height=32", "dataset.width=32",
            "model.net.widths=[8,8,8,8]", f"paths.data_dir={data_dir}"]


def _earlier_detection(w: World, path: Path) -> None:
    path.mkdir(parents=True)
    for name in ("scores.csv", "timeline.png"):
        (path / name).write_text("an earlier detection\n")


def _earlier_report(w: World, path: Path) -> None:
    path.mkdir(parents=True)
    (path / "report.md").write_text("# an earlier report\n")


def _earlier_dataset(w: World, path: Path) -> None:
    copy_dataset(w, path / "ped2")


OPTIONS = [
    PathOption(RUN, "paths.root_dir", FOLDER, True, lambda w, p: [*FAST_RUN, f"paths.root_dir={p}"]),
    PathOption(RUN, "paths.output_dir", FOLDER, True, lambda w, p: w.run_args(f"paths.output_dir={p}")),
    PathOption(RUN, "paths.cache_dir", FOLDER, True, lambda w, p: w.run_args(f"paths.cache_dir={p}")),
    PathOption(RUN, "dataset.cache_dir", FOLDER, True, lambda w, p: w.run_args(f"dataset.cache_dir={p}")),
    PathOption(RUN, "paths.generated_dir", FOLDER, True,
               lambda w, p: w.run_args(f"paths.generated_dir={p}")),
    PathOption(RUN, "paths.data_dir", FOLDER, False, _ped2, copy_ped2),
    PathOption(RUN, "paths.intruder_dir", FOLDER, False,
               lambda w, p: w.run_args("pseudo=imagenet_smoothmix", f"paths.intruder_dir={p}"), image_folder),
    PathOption(RUN, "dataset.root", FOLDER, False,
               lambda w, p: w.run_args(f"dataset.root={p}", "dataset.generate=null"), copy_dataset),
    PathOption(RUN, "dataset.labels_path", FILE, False,
               lambda w, p: w.run_args(f"dataset.root={w.good}", "dataset.generate=null",
                                       f"dataset.labels_path={p}"),
               copy_file(lambda w: w.good / "frame_labels_synthetic.npy")),
    PathOption(RUN, "hydra.run.dir", FOLDER, True, lambda w, p: w.run_args(f"hydra.run.dir={p}"),
               taken=lambda w, p: shutil.copytree(w.finished, p)),
    PathOption(RUN, "hydra.sweep.dir", FOLDER, True,
               lambda w, p: ["-m", *w.run_args(f"hydra.sweep.dir={p}")], taken=sweep_folder),
    PathOption(RUN, "ckpt_path (task=test)", FILE, False,
               lambda w, p: w.run_args("task=test", f"ckpt_path={p}"), copy_file(lambda w: w.ckpt)),
    PathOption(RUN, "ckpt_path (task=train)", FILE, False, lambda w, p: w.run_args(f"ckpt_path={p}"),
               copy_file(lambda w: w.ckpt)),
    PathOption(RUN, "resume", FOLDER, False, lambda w, p: w.run_args(f"resume={p}"), interrupted_run),
    PathOption(DETECT, "--ckpt", FILE, False, lambda w, p: _detect(w, p.parent, ckpt=p),
               copy_file(lambda w: w.ckpt)),
    PathOption(DETECT, "--input", EITHER, False, lambda w, p: _detect(w, p.parent, input_=p), copy_frames),
    PathOption(DETECT, "--out", FOLDER, True, lambda w, p: _detect(w, p.parent, out=p),
               taken=_earlier_detection),
    PathOption(EXPORT, "--ckpt", FILE, False, lambda w, p: _export(p, p.parent / "m.pt"),
               copy_file(lambda w: w.ckpt)),
    PathOption(EXPORT, "--out", FILE, True, lambda w, p: _export(w.ckpt, p),
               taken=lambda w, p: p.write_text("an earlier export\n")),
    PathOption(REPORT, "sweep folder", FOLDER, False, lambda w, p: [str(p)], sweep_folder),
    PathOption(REPORT, "--out", FOLDER, True,
               lambda w, p: [str(w.finished.parent), "--out", str(p)], taken=_earlier_report),
    PathOption(HPARAMS, "run or sweep folder", FOLDER, False, lambda w, p: [str(p)], sweep_folder),
    PathOption(PREPARE, "--source", EITHER, False,
               lambda w, p: ["ped2", "--source", str(p), "--out", str(p.parent / "prepared")],
               existing_folder),
    PathOption(PREPARE, "--out", FOLDER, True,
               lambda w, p: ["ped2", "--source", str(w.root / "footage"), "--out", str(p)],
               taken=_earlier_dataset),
]


# -- what can be wrong with a path -------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """``make`` builds the faulty path for ``option`` inside the case's own folder and returns it;
    ``says``: what the error line must say (a regular expression)."""

    name: str
    applies: Callable[[PathOption], bool]
    make: Callable[[World, PathOption, Path], Path]
    says: str
    unprivileged: bool = False


def _suffix(option: PathOption) -> str:
    return ".pt" if option.command == EXPORT else ".ckpt" if "ckpt" in option.option else ".npy" \
        if option.kind == FILE else ""


def _missing(w: World, option: PathOption, case: Path) -> Path:
    return case / f"missing{_suffix(option)}"


def _empty(w: World, option: PathOption, case: Path) -> Path:
    (case / "empty").mkdir()
    return case / "empty"


def _a_file(w: World, option: PathOption, case: Path) -> Path:
    (case / "a_file").write_text("a file, where a folder is expected\n")
    return case / "a_file"


def _a_folder(w: World, option: PathOption, case: Path) -> Path:
    path = case / f"a_folder{_suffix(option)}"
    path.mkdir()
    return path


def _not_creatable(w: World, option: PathOption, case: Path) -> Path:
    return CANNOT_CREATE / case.name / f"out{_suffix(option)}"


def _not_readable(w: World, option: PathOption, case: Path) -> Path:
    path = case / f"locked{_suffix(option)}"
    option.good(w, path)
    path.chmod(0)
    return path


def _not_writable(w: World, option: PathOption, case: Path) -> Path:
    folder = case / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder / f"out{_suffix(option)}" if option.kind == FILE else folder


def _taken(w: World, option: PathOption, case: Path) -> Path:
    path = case / f"taken{_suffix(option)}"
    option.taken(w, path)
    return path


def _reads(option: PathOption) -> bool:
    return not option.writes


FAULTS = [
    Fault("missing", _reads, _missing, r"not found"),
    Fault("empty", lambda o: _reads(o) and o.kind != FILE, _empty,
          r"holds no|not found|missing|\bno\b.* (in|under)\b"),
    Fault("a file where a folder is expected", lambda o: o.kind == FOLDER, _a_file,
          r"is a file, not a folder"),
    Fault("a folder where a file is expected", lambda o: o.kind == FILE, _a_folder,
          r"is a folder, not a file"),
    Fault("cannot be created", lambda o: o.writes, _not_creatable, r"cannot create"),
    Fault("not readable", _reads, _not_readable, r"cannot be read \(permission denied", unprivileged=True),
    Fault("not writable", lambda o: o.writes, _not_writable, r"cannot create .*\(permission denied",
          unprivileged=True),
    Fault("holds earlier outputs", lambda o: o.taken is not None, _taken,
          r"already (exist|holds)|holds another"),
]


# -- the files every command reads, and how a file can be damaged --------------------------------------------
@dataclass(frozen=True)
class FileInput:
    """A file a command reads: ``place`` makes what surrounds it in the case's folder and returns where
    the file goes; ``argv`` the command that reads it there; ``good`` a good one (truncated is its first
    half); ``wrong`` writes one of the right format with the wrong contents, or says why none exists.
    ``accepted``: damages that are no fault for this file (the command goes on: exit code 0, no error),
    with the reason; ``named``: the path the error names, when it is not the file itself."""

    command: str
    what: str
    place: Callable[[World, Path], Path]
    argv: Callable[[World, Path], list[str]]
    good: Callable[[World], Path]
    wrong: Callable[[World, Path], None] | str
    accepted: dict[str, str] = field(default_factory=dict)
    named: Callable[[Path], Path] = lambda path: path


def _ckpt_here(w: World, case: Path) -> Path:
    return case / "model.ckpt"


def _wrong_ckpt(w: World, path: Path) -> None:
    torch.save({"epoch": 3, "state_dict": {"model.weight": torch.zeros(3)}}, path)


def _resumed_last(w: World, case: Path) -> Path:
    interrupted_run(w, case / "run")
    return case / "run" / "checkpoints" / "last.ckpt"


def _frame_in_dataset(w: World, case: Path) -> Path:
    copy_dataset(w, case / "data")
    return case / "data" / "training" / "frames" / "01" / "005.jpg"


def _frame_in_folder(w: World, case: Path) -> Path:
    copy_frames(w, case / "frames")
    return case / "frames" / "005.jpg"


def _short_video(w: World, path: Path) -> None:
    imageio.mimwrite(path, [imageio.imread(f) for f in sorted(w.frames.iterdir())[:5]], fps=10,
                     format="FFMPEG")


def _archive(w: World) -> Path:
    """A gzipped tar (of anything: only its damage matters)."""
    path = w.root / "footage" / "UCSD_Anomaly_Dataset.tar.gz"
    if not path.exists():
        with tarfile.open(path, "w:gz") as tar:
            tar.add(w.frames, arcname="frames")
    return path


def _results_in_sweep(w: World, case: Path) -> Path:
    sweep_folder(w, case / "sweep")
    return case / "sweep" / "0_synthetic_none_seed0" / "results.json"


def _events_in_folder(w: World, case: Path) -> Path:
    (case / "tb").mkdir()
    return case / "tb" / w.events.name


def _manifest(w: World, case: Path) -> Path:
    copy_dataset(w, case / "generated" / "synthetic")
    return case / "generated" / "synthetic" / "synthetic.json"


def _cifar(w: World, case: Path) -> Path:
    """A CIFAR-100 folder in torchvision's format (tiny), whose ``train`` file is the one damaged."""
    folder = case / "intruders" / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    for name in ("test", "meta"):
        shutil.copy(_good_cifar(w), folder / name)
    return folder / "train"


def _good_cifar(w: World) -> Path:
    path = w.root / "footage" / "cifar_train"
    if not path.exists():
        data = {"data": np.zeros((4, 3072), np.uint8), "fine_labels": [0, 1, 2, 3],
                "fine_label_names": [f"c{i}" for i in range(100)]}
        path.write_bytes(pickle.dumps(data))
    return path


def _resumed_config(w: World, case: Path) -> Path:
    interrupted_run(w, case / "run")
    return case / "run" / ".hydra" / "config.yaml"


def _wrong_labels(w: World, path: Path) -> None:
    np.save(path, np.zeros((1, 63), np.int64))  # one label short


def _wrong_manifest(w: World, path: Path) -> None:
    path.write_text(json.dumps({"seed": 0, "size": 32, "train_videos": "two"}))


def _wrong_cifar(w: World, path: Path) -> None:
    path.write_bytes(pickle.dumps({"data": "not images", "fine_labels": None}))


CONFIG_RECORD = ("only a record of the interrupted run's settings, compared to warn of changes: a damaged "
                 "one is said in a warning and the run continues from its checkpoint")
CUT_EVENTS = ("an event file cut off (a job still running, or killed) is read up to its last whole record, "
              "as TensorBoard reads it; this one's session is in its first half")
ANY_IMAGE = "any image OpenCV decodes is a frame (resized to the size the data or model needs)"

FILES = [
    FileInput(RUN, "checkpoint (task=test)", _ckpt_here,
              lambda w, c: w.run_args("task=test", f"ckpt_path={c}/model.ckpt"), lambda w: w.ckpt,
              _wrong_ckpt),
    FileInput(RUN, "checkpoint (task=train)", _ckpt_here,
              lambda w, c: w.run_args(f"ckpt_path={c}/model.ckpt"), lambda w: w.ckpt, _wrong_ckpt),
    FileInput(RUN, "checkpoint (resume)", _resumed_last, lambda w, c: w.run_args(f"resume={c}/run"),
              lambda w: w.ckpt, _wrong_ckpt),
    FileInput(RUN, "run config (resume)", _resumed_config, lambda w, c: w.run_args(f"resume={c}/run"),
              lambda w: w.finished / ".hydra" / "config.yaml",
              lambda w, p: p.write_text("- a list\n- not a run's config\n"),
              accepted=dict.fromkeys(("empty", "plain text", "random bytes", "truncated",
                                      "right format, wrong contents"), CONFIG_RECORD)),
    FileInput(RUN, "labels", lambda w, c: c / "labels.npy",
              lambda w, c: w.run_args(f"dataset.root={w.good}", "dataset.generate=null",
                                      f"dataset.labels_path={c}/labels.npy"),
              lambda w: w.good / "frame_labels_synthetic.npy", _wrong_labels),
    FileInput(RUN, "frame", _frame_in_dataset,
              lambda w, c: w.run_args(f"dataset.root={c}/data", "dataset.generate=null"),
              lambda w: w.frames / "005.jpg", ANY_IMAGE),
    FileInput(RUN, "synthetic manifest", _manifest,
              lambda w, c: w.run_args(f"paths.generated_dir={c}/generated"),
              lambda w: w.good / "synthetic.json", _wrong_manifest),
    FileInput(RUN, "CIFAR-100 intruders", _cifar,
              lambda w, c: w.run_args("pseudo=cifar_smoothmix", f"paths.intruder_dir={c}/intruders"),
              _good_cifar, _wrong_cifar, named=lambda path: path.parent),  # torchvision reads all three
    FileInput(DETECT, "checkpoint", _ckpt_here, lambda w, c: _detect(w, c, ckpt=c / "model.ckpt"),
              lambda w: w.ckpt, _wrong_ckpt),
    FileInput(DETECT, "video", lambda w, c: c / "video.mp4",
              lambda w, c: _detect(w, c, input_=c / "video.mp4"), lambda w: w.video, _short_video),
    FileInput(DETECT, "frame", _frame_in_folder, lambda w, c: _detect(w, c, input_=c / "frames"),
              lambda w: w.frames / "005.jpg", ANY_IMAGE),
    FileInput(EXPORT, "checkpoint", _ckpt_here, lambda w, c: _export(c / "model.ckpt", c / "m.pt"),
              lambda w: w.ckpt, _wrong_ckpt),
    FileInput(REPORT, "results.json", _results_in_sweep, lambda w, c: [str(c / "sweep")],
              lambda w: w.finished / "results.json", lambda w, p: p.write_text(json.dumps({"auc": 0.9}))),
    FileInput(HPARAMS, "TensorBoard events", _events_in_folder, lambda w, c: [str(c / "tb")],
              lambda w: w.events, lambda w, p: _events_without_hparams(p),
              accepted={"truncated": CUT_EVENTS}),
    FileInput(PREPARE, "archive", lambda w, c: c / "release.tar.gz",
              lambda w, c: ["ped2", "--source", str(c / "release.tar.gz"), "--out", str(c / "out")],
              _archive, lambda w, p: shutil.copy(_archive(w), p)),  # a tar.gz, but not of the release
]


def _events_without_hparams(path: Path) -> None:
    """A TensorBoard event file of the right format holding a scalar only, no HParams session."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(path.parent), filename_suffix="")
    writer.add_scalar("loss", 1.0, 0)
    writer.close()
    (produced,) = [p for p in path.parent.iterdir() if p.name.startswith("events.")]
    produced.rename(path)


DAMAGES: dict[str, Callable[[World, FileInput, Path], None]] = {
    "empty": lambda w, f, p: p.write_bytes(b""),
    "plain text": lambda w, f, p: p.write_text("this is not the file you are looking for\n"),
    "random bytes": lambda w, f, p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
    "truncated": lambda w, f, p: p.write_bytes(f.good(w).read_bytes()[: f.good(w).stat().st_size // 2]),
    "right format, wrong contents": lambda w, f, p: f.wrong(w, p),
}


# -- the cases -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One command run against one fault: ``build`` makes the fault in the case's folder and returns the
    path the error must name and the command line; ``says``: what the error must say; ``accepted``: why
    this is no fault (the command must then go on)."""

    id: str
    command: str
    build: Callable[[World, Path], tuple[Path, list[str]]]
    says: str = ""
    unprivileged: bool = False
    accepted: str | None = None


def _path_case(option: PathOption, fault: Fault) -> Case:
    def build(w: World, case: Path) -> tuple[Path, list[str]]:
        path = fault.make(w, option, case)
        return path, option.argv(w, path)

    return Case(f"{option.command}:{option.option}:{fault.name}", option.command, build, fault.says,
                fault.unprivileged)


def _file_case(file: FileInput, damage: str) -> Case:
    def build(w: World, case: Path) -> tuple[Path, list[str]]:
        path = file.place(w, case)
        DAMAGES[damage](w, file, path)
        return file.named(path), file.argv(w, case)

    return Case(f"{file.command}:{file.what}:{damage}", file.command, build,
                accepted=file.accepted.get(damage))


PATH_CASES = [_path_case(o, f) for o in OPTIONS for f in FAULTS if f.applies(o)]
FILE_CASES = [_file_case(f, d) for f in FILES for d in DAMAGES
              if d != "right format, wrong contents" or not isinstance(f.wrong, str)]
CASES = PATH_CASES + FILE_CASES


def _state(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``root``: a file's size and modification time, None for a folder."""
    out: dict[str, tuple[int, int] | None] = {}
    for folder, _, files in os.walk(root):
        out[os.path.relpath(folder, root)] = None
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            out[os.path.relpath(os.path.join(folder, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory, server) -> World:
    world = _make_world(tmp_path_factory.mktemp("world"), server)
    (world.root / "cases").mkdir()
    return world


@pytest.fixture(scope="module")
def hashed(world):
    """Every file of the world hashed before the matrix and after it: none may change."""
    before = _hashes(world.root)
    yield
    after = _hashes(world.root)
    assert [k for k, v in before.items() if after.get(k) != v] == []


def _problems(case: Case, path: Path, result: Result) -> list[str]:
    """What is wrong with how the command ended (empty: nothing)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    problems = ["a traceback"] if "Traceback" in result.stderr else []
    if case.accepted:
        return problems + ([f"exit code {result.rc}, {errors}"] if result.rc != 0 or errors else [])
    if result.rc != 2:
        problems.append(f"exit code {result.rc}")
    if len(errors) != 1:
        problems.append(f"{len(errors)} error lines")
    elif str(path) not in errors[0]:
        problems.append(f"the line does not name {path}")
    elif not re.search(case.says, errors[0], re.IGNORECASE):
        problems.append(f"the line does not say /{case.says}/")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, world: World, server: ForkServer, hashed) -> None:
    folder = world.root / "cases" / re.sub(r"[^a-z0-9]+", "-", case.id.lower()).strip("-")
    folder.mkdir()
    path, argv = case.build(world, folder)
    before = _state(world.root)
    result = server.run(argv, None if case.command == RUN else case.command,
                        setup=[UNPRIVILEGED] if case.unprivileged else None)
    after = _state(world.root)
    problems = _problems(case, path, result)
    if not case.accepted:  # an accepted case went on, and wrote what it writes
        created = sorted(set(after) - set(before))
        changed = sorted(k for k, v in before.items() if v is not None and after.get(k) != v)
        problems += [f"created {created[:3]}"] if created else []
        problems += [f"changed {changed[:3]}"] if changed else []
    assert not problems, f"{'; '.join(problems)}\n{result.stderr[-2500:]}"


def test_a_run_directory_given_again_is_continued_only_when_resumed(world: World, server: ForkServer) -> None:
    """``hydra.run.dir=D`` of an interrupted run: refused (the matrix), continued with ``resume=D`` too."""
    run_dir = world.root / "cases" / "given-again"
    interrupted_run(world, run_dir)
    refused = server.run(world.run_args(f"hydra.run.dir={run_dir}"))
    assert refused.rc == 2 and f"continue that run with resume={run_dir}" in refused.stderr, refused.stderr
    continued = server.run(world.run_args(f"hydra.run.dir={run_dir}", f"resume={run_dir}"))
    assert continued.rc == 0, continued.stderr[-3000:]
    assert f"run directory: {run_dir}" in continued.stdout and (run_dir / "results.json").is_file()


def test_the_docs_say_how_many_cases_the_matrix_holds() -> None:
    guide, readme = (REPO / "docs" / "guide.md").read_text(), (REPO / "README.md").read_text()
    assert f"generates {len(CASES)} cases" in " ".join(guide.split())
    assert f"= {len(PATH_CASES)}," in guide and f"= {len(FILE_CASES)}." in guide
    assert f"{len(OPTIONS)} of {len({o.command for o in OPTIONS})}" in guide
    assert f"a fault matrix of {len(CASES)} cases" in " ".join(readme.split())
    assert f"but for {sum(1 for c in CASES if c.accepted)} damages" in " ".join(guide.split())
