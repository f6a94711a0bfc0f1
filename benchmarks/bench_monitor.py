"""Cost of the per-epoch TensorBoard views (lnra.callbacks.monitor):
one ped2_small epoch with them off and on.

    OMP_NUM_THREADS=1 python benchmarks/bench_monitor.py paths.data_dir=../shared/data \
        +trainer.limit_train_batches=100 [--repeats 1] [any key=value]

Trains one epoch per setting (``monitor=none``, ``monitor=default``, alternated ``--repeats`` times) in
this process and prints a Markdown table: the epoch's wall time (training, then validation over every
test window), and the time spent inside the monitor's own hooks (timed around each hook call), per
epoch and once per run (drawing the pseudo clips), as a share of the epoch. On a shared machine two
epochs differ by noise larger than the views' cost, so the hooks' own time is the figure to read.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytorch_lightning as pl
from hydra import compose, initialize_config_dir

from lnra.callbacks.monitor import build_monitor
from lnra.run.builders import build_datamodule, build_module, build_pseudo, build_trainer
from lnra.run.rundir import register_resolvers

REPO = Path(__file__).resolve().parents[1]
ONCE = {"setup", "on_fit_start", "on_train_start"}


class EpochClock(pl.Callback):
    """Wall time from the start of each training epoch to its end (after its validation)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def _timed(hook, key: str, spent: dict[str, float]):
    @functools.wraps(hook)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return hook(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - start

    return timed


def time_hooks(callback: pl.Callback, spent: dict[str, float]) -> None:
    """Wrap every hook ``callback`` implements so that its time adds to ``spent['once' | 'epoch']``."""
    for name in dir(pl.Callback):
        hook = getattr(type(callback), name)
        if (name.startswith("on_") or name == "setup") and hook is not getattr(pl.Callback, name):
            key = "once" if name in ONCE else "epoch"
            setattr(callback, name, _timed(getattr(callback, name), key, spent))


def one_epoch(overrides: list[str], monitor: str, out_dir: Path) -> dict[str, float]:
    cfg = compose("config", overrides=[
        "experiment=ped2_small", "trainer.max_epochs=1", "logger=tensorboard", "viz.timelines=false",
        f"paths.output_dir={out_dir}", f"monitor={monitor}", *overrides])
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg, build_pseudo(cfg))
    datamodule.check_test_split()
    module = build_module(cfg, datamodule)
    trainer = build_trainer(cfg, Path(tempfile.mkdtemp(dir=out_dir)))
    spent: dict[str, float] = defaultdict(float)
    monitors = {type(c) for c in build_monitor(cfg, out_dir)}
    for callback in trainer.callbacks:
        if type(callback) in monitors:
            time_hooks(callback, spent)
    clock = EpochClock()
    trainer.callbacks.append(clock)
    trainer.fit(module, datamodule=datamodule)
    return {"epoch_s": clock.seconds[0], "epoch_hooks_s": spent["epoch"], "once_s": spent["once"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=REPO / "outputs" / "bench_monitor")
    args, overrides = parser.parse_known_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    register_resolvers()
    rows = []
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for _ in range(args.repeats):
            for monitor in ("none", "default"):
                rows.append((monitor, one_epoch(overrides, monitor, args.out_dir.resolve())))
    print(f"\none ped2_small epoch, overrides: {' '.join(overrides) or '-'}\n")
    print("| monitor | epoch s | monitor hooks per epoch s | share of the epoch | once per run s |")
    print("|---|---|---|---|---|")
    for monitor, r in rows:
        print(f"| {monitor} | {r['epoch_s']:.1f} | {r['epoch_hooks_s']:.2f} | "
              f"{100 * r['epoch_hooks_s'] / r['epoch_s']:.1f} % | {r['once_s']:.2f} |")


if __name__ == "__main__":
    main()
