"""Where the time of a training epoch and of an evaluation goes: the network, or everything around it.

    python benchmarks/bench_time_split.py --settings fp32 fast --train-batches 150 \
        paths.data_dir=../shared/data [--repo OTHER_CHECKOUT] [any key=value]

Each setting runs ``python run.py experiment=ped2_small trainer.max_epochs=1`` (one epoch, then the
validation over every test window) in its own process, on the checkout ``--repo`` (default: this one;
give an older checkout for a before/after table: nothing here depends on lnra's internals beyond
``lnra.method.model.Autoencoder3D``). Inside that process three clocks are added before ``run.py`` starts:

* Lightning's profiler interface (every hook, loader fetch, step and backward it times), accumulated per
  phase (training, validation, test);
* the autoencoder's ``forward`` (and ``reconstruct_centre``, the evaluation's cropped decode), and
  torch's Adam update: with ``backward`` these are *the network*;
* the loops' own ``run`` (the phase boundaries); start-up is the time from spawning the process to the
  first training (or, for ``task=test``, evaluation) loop.

The table gives each category's seconds and share: network, data loading (cache → batch → device),
batch preparation and pseudo anomalies (``on_after_batch_transfer``), loss or scoring and metrics (the
step outside the network, the AUC at the epoch's end), callbacks and logging (every callback hook, the
module's other hooks), the Lightning loop itself (the remainder), and start-up. On a GPU every clock
synchronises the device. ``--json FILE`` keeps the raw figures.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import importlib
import json
import os
import runpy
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {
    "fp32": ["trainer.precision=32-true", "model.channels_last=false"],
    "fp32_cl": ["trainer.precision=32-true", "model.channels_last=true"],
    "fast": ["trainer.precision=auto", "model.channels_last=true"],
}
CATEGORIES = ("network", "data loading", "batch prep + pseudo", "loss / scoring", "callbacks + logging",
              "Lightning loop")


# -- the child: run.py with clocks -------------------------------------------------------------------
def _install_clocks(totals: dict, marks: dict) -> None:
    """Patch the profiler, the network and the loops of this process (see the module docstring)."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.loops.evaluation_loop import _EvaluationLoop
    from pytorch_lightning.loops.training_epoch_loop import _TrainingEpochLoop
    from pytorch_lightning.profilers import Profiler

    from lnra.method import model

    phase = ["startup"]
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)

    def clock() -> float:
        sync()
        return time.perf_counter()

    class PhaseProfiler(Profiler):
        def __init__(self) -> None:
            super().__init__()
            self.started: dict[str, float] = {}

        def start(self, action_name: str) -> None:
            self.started[action_name] = clock()

        def stop(self, action_name: str) -> None:
            start = self.started.pop(action_name, None)
            if start is not None:
                totals[phase[0]][action_name] += clock() - start

        def summary(self) -> str:
            return ""

    def timed(fn, name: str, depth: list[int]):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            depth[0] += 1
            start = clock() if depth[0] == 1 else None
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                if start is not None:
                    totals[phase[0]][name] += clock() - start
        return wrapper

    net_depth = [0]
    for cls in (model.Autoencoder3D, *model.Autoencoder3D.__subclasses__()):
        for method in ("forward", "reconstruct_centre"):
            if method in vars(cls):
                setattr(cls, method, timed(vars(cls)[method], "#network forward", net_depth))
    adam = importlib.import_module("torch.optim.adam")  # Adam.step calls this module's adam()
    adam.adam = timed(adam.adam, "#optimizer update", [0])

    def loop_phase(run, name_of):
        @functools.wraps(run)
        def wrapper(self, *args, **kwargs):
            outer, phase[0] = phase[0], name_of(self)
            marks.setdefault(f"{phase[0]}_first", time.time())
            start = clock()
            try:
                return run(self, *args, **kwargs)
            finally:
                totals[phase[0]]["#wall"] += clock() - start
                phase[0] = outer
        return wrapper

    def eval_name(loop) -> str:
        trainer = loop.trainer
        return "sanity" if trainer.sanity_checking else "test" if trainer.testing else "val"

    _TrainingEpochLoop.run = loop_phase(_TrainingEpochLoop.run, lambda loop: "train")
    _EvaluationLoop.run = loop_phase(_EvaluationLoop.run, eval_name)

    init = pl.Trainer.__init__

    @functools.wraps(init)
    def trainer_init(self, *args, **kwargs):
        kwargs["profiler"] = PhaseProfiler()
        init(self, *args, **kwargs)
    pl.Trainer.__init__ = trainer_init


def child(out: Path, repo: Path, overrides: list[str]) -> None:
    """Run ``run.py`` of ``repo`` with ``overrides`` under the clocks; write the figures to ``out``."""
    sys.path.insert(0, str(repo))
    os.chdir(repo)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    marks: dict[str, float] = {"spawned": float(os.environ["LNRA_SPLIT_SPAWNED"])}
    _install_clocks(totals, marks)

    def dump() -> None:
        import lnra
        marks["end"] = time.time()
        out.write_text(json.dumps({"totals": totals, "marks": marks, "lnra": lnra.__file__}, indent=1))
    atexit.register(dump)
    sys.argv = [str(repo / "run.py"), *overrides]
    runpy.run_path(str(repo / "run.py"), run_name="__main__")


# -- the parent: categories and the table --------------------------------------------------------------
def _sum(phase: dict[str, float], test) -> float:
    return sum(v for k, v in phase.items() if test(k))


def categorise(phase: dict[str, float], training: bool) -> dict[str, float]:
    """Seconds per category of one phase's accumulated actions (names as Lightning's profiler gives them)."""
    forward = phase.get("#network forward", 0.0)
    step = "training_step" if training else ("validation_step", "test_step")
    strategy_step = _sum(phase, lambda k: k.startswith("[Strategy]") and k.endswith(step))
    network = forward + phase.get("#optimizer update", 0.0) + _sum(
        phase, lambda k: k.startswith("[Strategy]") and k.endswith(".backward"))
    epoch_end = _sum(phase, lambda k: k.startswith("[LightningModule]") and k.endswith(
        ("on_validation_epoch_end", "on_test_epoch_end")))
    hooks = _sum(phase, lambda k: k.startswith("[Callback]") or (
        k.startswith("[LightningModule]") and ".on_" in k and not k.endswith(
            ("on_validation_epoch_end", "on_test_epoch_end", "on_after_batch_transfer",
             "on_before_batch_transfer"))))
    prep = _sum(phase, lambda k: k.endswith("on_after_batch_transfer"))  # runs inside batch_to_device
    out = {
        "network": network,
        "data loading": _sum(phase, lambda k: k.endswith(("_next", ".batch_to_device"))) - prep,
        "batch prep + pseudo": prep + _sum(phase, lambda k: k.endswith("on_before_batch_transfer")),
        "loss / scoring": strategy_step - forward + epoch_end,
        "callbacks + logging": hooks,
    }
    out["Lightning loop"] = phase.get("#wall", 0.0) - sum(out.values())
    return out


def callbacks_by_time(phase: dict[str, float], top: int = 4) -> str:
    per: dict[str, float] = defaultdict(float)
    for k, v in phase.items():
        if k.startswith("[Callback]"):
            per[k.removeprefix("[Callback]").split("{")[0].rsplit(".", 1)[0]] += v
    best = sorted(per.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in best)


def run_setting(args: argparse.Namespace, setting: str, tmp: Path) -> dict:
    out = tmp / f"{setting}.json"
    overrides = [*args.command, *SETTINGS[setting], f"hydra.run.dir={tmp / setting}", *args.overrides]
    if args.train_batches:
        overrides.append(f"++trainer.limit_train_batches={args.train_batches}")
    env = dict(os.environ, LNRA_SPLIT_SPAWNED=str(time.time()), PYTHONPATH=str(args.repo))
    cmd = [sys.executable, __file__, "--child", str(out), "--repo", str(args.repo), "--", *overrides]
    done = subprocess.run(cmd, env=env, cwd=args.repo, capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        sys.exit(f"error: {setting}: run.py exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    figures = json.loads(out.read_text())
    results = tmp / setting / "results.json"
    figures["auc"] = json.loads(results.read_text()).get("auc_micro") if results.is_file() else None
    return figures


def table(rows: list[tuple[str, dict]], repo: Path) -> list[str]:
    lines = [f"\n### Time split — {repo} ({machine()})\n",
             "| setting | phase | wall s | " + " | ".join(CATEGORIES) + " | outside the network | start-up s "
             "| busiest callbacks |",
             "|---" * (len(CATEGORIES) + 6) + "|"]
    for setting, figures in rows:
        marks = figures["marks"]
        for phase in ("train", "val", "test"):
            spent = figures["totals"].get(phase)
            if not spent:
                continue
            wall = spent["#wall"]
            if phase == "train":  # the validation inside the epoch is its own row
                wall -= figures["totals"].get("val", {}).get("#wall", 0.0)
                spent = dict(spent, **{"#wall": wall})
            parts = categorise(spent, phase == "train")
            first_phase = "train" if "train_first" in marks else "test"
            startup = marks[f"{first_phase}_first"] - marks["spawned"] if phase == first_phase else None
            cells = " | ".join(f"{parts[c]:.1f} ({100 * parts[c] / wall:.1f} %)" for c in CATEGORIES)
            outside = 100 * (1 - parts["network"] / wall)
            lines.append(f"| {setting} | {phase} | {wall:.1f} | {cells} | {outside:.1f} % | "
                         f"{'' if startup is None else f'{startup:.1f}'} | {callbacks_by_time(spent)} |")
        if figures.get("auc") is not None:
            lines.append(f"| {setting} | AUC | {100 * figures['auc']:.2f} % |" + " |" * (len(CATEGORIES) + 3))
    return lines


def machine() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
               "cpu")
    bf16 = "avx512_bf16" in info or "amx_bf16" in info
    return f"{cpu}, {os.cpu_count()} cores, native bf16: {'yes' if bf16 else 'no'}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["fp32", "fast"])
    parser.add_argument("--train-batches", type=int, default=None, help="training steps (default: the epoch)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose run.py is timed")
    parser.add_argument("--command", nargs="+", default=["experiment=ped2_small", "trainer.max_epochs=1"],
                        help="run.py's command")
    parser.add_argument("--json", type=Path, default=None, help="write the raw figures here")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args, overrides = parser.parse_known_args(argv)
    args.overrides = [o for o in overrides if o != "--"]
    args.repo = args.repo.resolve()
    if args.child:
        child(args.child, args.repo, args.overrides)
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(s, run_setting(args, s, Path(tmp))) for s in args.settings]
    print("\n".join(table(rows, args.repo)))
    if args.json:
        args.json.write_text(json.dumps({s: f for s, f in rows}, indent=1))


if __name__ == "__main__":
    main()
