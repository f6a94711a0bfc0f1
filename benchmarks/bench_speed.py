"""Speed of lnra, measured through the real objects: one Markdown table per section.

    python benchmarks/bench_speed.py train --size 64    # clips/s: full training step vs bare model step
    python benchmarks/bench_speed.py eval  --size 64    # windows/s over the whole Ped2 test set
    python benchmarks/bench_speed.py epoch --size 64    # wall time of one full Ped2 epoch (+ validation)

Every section composes the project's Hydra config (``dataset=ped2`` by default, the data found through
``--data-dir``), builds the data, pseudo anomalies, module and Lightning Trainer with ``lnra.run.builders``
exactly as ``run.py`` does, and times the Trainer's own loops with a callback. ``--settings`` picks the
precision / memory-format combinations to compare (see ``SETTINGS``); they are measured in turn, round by
round, so that a noisy shared machine slows all of them alike. Extra ``key=value`` arguments are Hydra
overrides passed to every run (e.g. ``dataset.cache_on_device=true``, ``dataset.batch_size=16``).
``--json FILE`` also writes the rows. ``--accelerator gpu`` composes ``trainer=gpu``; there the table
adds the achieved TFLOP/s from the model's 64.3 GFLOP forward per 16×256×256 clip (×3 for a training
step, scaled by the pixel count at other sizes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("LNRA_ROOT", str(REPO))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from lnra.config.options import effective_options  # noqa: E402
from lnra.errors import LnraError  # noqa: E402
from lnra.method.losses import per_sample_mse  # noqa: E402
from lnra.run import builders  # noqa: E402
from lnra.run.command import prepare  # noqa: E402
from lnra.run.trainer import resolve_precision  # noqa: E402

FORWARD_GFLOP_256 = 64.3  # one 1×16×256×256 clip through the autoencoder (issue 7)

# name → Hydra overrides; "fast" is the default of trainer=cpu (bf16 where native) and of trainer=gpu.
SETTINGS: dict[str, list[str]] = {
    "fp32": ["trainer.precision=32-true", "model.channels_last=false"],
    "fp32_cl": ["trainer.precision=32-true", "model.channels_last=true"],
    "bf16": ["trainer.precision=bf16-mixed", "model.channels_last=false"],
    "fast": ["trainer.precision=auto", "model.channels_last=true"],
    "fast_compile": ["trainer.precision=auto", "model.channels_last=true", "model.compile=true"],
    "fp32_compile": ["trainer.precision=32-true", "model.channels_last=false", "model.compile=true"],
    "fp32_cl_compile": ["trainer.precision=32-true", "model.channels_last=true", "model.compile=true"],
    "fp32_compile_max": ["trainer.precision=32-true", "model.channels_last=false",
                         "model.compile=max-autotune-no-cudagraphs"],
}


def variant_overrides(variant: str, intruders: Path) -> list[str]:
    """The pseudo config of a variant; cifar_smoothmix uses the CIFAR-10 ImageFolder stand-in for CIFAR-100
    (CIFAR-100 itself is not available here)."""
    if variant == "cifar_smoothmix":
        return ["pseudo=cifar_smoothmix", "pseudo/source=image_folder", f"pseudo.source.root={intruders}",
                "pseudo.source.crop=false"]  # drawn like CIFAR: whole images, no crop or flip
    return [f"pseudo={variant}"]


def compose_config(args: argparse.Namespace, setting: str, extra: list[str]) -> DictConfig:
    overrides = [
        f"trainer={args.accelerator}", "dataset=ped2", f"paths.data_dir={args.data_dir}",
        f"dataset.height={args.size}", f"dataset.width={args.size}", f"dataset.batch_size={args.batch}",
        "logger=none", "trainer.enable_progress_bar=false",
        *SETTINGS[setting], *args.overrides, *extra,
    ]
    if args.labels:
        overrides.append(f"dataset.labels_path={args.labels}")
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return compose("config", prepare(overrides, REPO / "conf"))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class LoopTimer(pl.Callback):
    """Wall-clock marks of the Trainer's loops: train steps after warm-up, validation and test passes.

    Only the marks synchronise the GPU, so the steps in between keep their normal asynchrony.
    """

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.marks: dict[str, float] = {}
        self.train_steps = 0
        self.eval_windows = 0
        self.inference_mode = False

    def _mark(self, name: str, module: pl.LightningModule) -> None:
        sync(module.device)
        self.marks[name] = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._mark("train_start", pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.warmup - 1:
            self._mark("warm", pl_module)
        if batch_idx == trainer.num_training_batches - 1:  # Lightning validates before on_train_epoch_end
            self._mark("train_end", pl_module)
        self.train_steps = batch_idx + 1

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._mark("eval_start", pl_module)
        self.eval_windows = 0

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, loader_idx=0) -> None:
        self.eval_windows += len(batch.clip)
        self.inference_mode = torch.is_inference_mode_enabled()
        self._mark("eval_last_batch", pl_module)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._mark("eval_end", pl_module)

    # the test loop is timed like validation
    on_test_epoch_start = on_validation_epoch_start
    on_test_batch_end = on_validation_batch_end
    on_test_epoch_end = on_validation_epoch_end


def timed_run(cfg: DictConfig, run_dir: Path, timer: LoopTimer, **trainer_overrides):
    """A run's objects as ``lnra.run.tasks`` builds them (:func:`lnra.run.builders.build_run`), timed."""
    pl.seed_everything(0, verbose=False)
    run = builders.build_run(cfg, run_dir, **trainer_overrides)
    run.trainer.callbacks.append(timer)
    return run.trainer, run.module, run.datamodule


class BareStep:
    """The model alone on random tensors: same precision, memory format and optimiser as the real step."""

    def __init__(self, cfg: DictConfig, args: argparse.Namespace, device: torch.device) -> None:
        precision = resolve_precision(str(cfg.trainer.precision), args.accelerator)
        options = effective_options(cfg.model)
        fmt = torch.channels_last_3d if options["channels_last"] else torch.contiguous_format
        clip_len = int(effective_options(cfg.dataset)["clip_len"])
        shape = {"frames": clip_len, "height": args.size, "width": args.size}
        model = instantiate(cfg.model.net, **builders.wired(cfg.model.net, shape))
        model = model.to(device, memory_format=fmt).train()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=float(options["lr"]))
        self.model: Callable = torch.compile(model) if options["compile"] else model
        clips = torch.rand((args.batch, 1, clip_len, args.size, args.size), device=device) * 2 - 1
        self.clips = clips.contiguous(memory_format=fmt)
        self.dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
        self.device = device

    def step(self) -> None:
        dtype = self.dtype or torch.float32
        with torch.autocast(self.device.type, dtype=dtype, enabled=self.dtype is not None):
            loss = per_sample_mse(self.model(self.clips), self.clips).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


class InterleavedBare(pl.Callback):
    """After every real training step, one bare model step: on a CPU shared with other work the load drifts
    by the minute, and only step-by-step alternation compares the two under the same conditions.

    A real step's time runs from the end of the previous bare step to the end of the real step, so it holds
    everything Lightning does for one batch: fetching it from the cache, pseudo anomalies, the step itself.
    """

    def __init__(self, bare: BareStep, warmup: int) -> None:
        self.bare, self.warmup = bare, warmup
        self.full: list[float] = []
        self.bare_times: list[float] = []
        self._mark = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._mark = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        self.bare.step()
        done = time.perf_counter()
        if batch_idx >= self.warmup:
            self.full.append(now - self._mark)
            self.bare_times.append(done - now)
        self._mark = time.perf_counter()


def measure_steps(cfg: DictConfig, args: argparse.Namespace) -> tuple[float, float]:
    """(clips/s of the full ``Trainer.fit`` step, clips/s of the bare model step) for one config.

    CPU: medians of step-by-step interleaved timings. GPU: the mean over the timed steps of each, run one
    after the other, synchronising only at the ends so that the data pipeline overlaps the GPU as usual.
    """
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    bare = BareStep(cfg, args, device)
    timer = LoopTimer(args.warmup)
    interleaved = InterleavedBare(bare, args.warmup) if device.type == "cpu" else None
    with tempfile.TemporaryDirectory() as tmp:
        trainer, module, datamodule = timed_run(cfg, Path(tmp), timer, max_epochs=1, limit_val_batches=0,
                                                limit_train_batches=args.warmup + args.steps)
        if interleaved:
            trainer.callbacks.append(interleaved)
        trainer.fit(module, datamodule=datamodule)
    if interleaved:
        return (args.batch / statistics.median(interleaved.full),
                args.batch / statistics.median(interleaved.bare_times))
    full = (timer.train_steps - args.warmup) * args.batch / (timer.marks["train_end"] - timer.marks["warm"])
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            sync(device)
            start = time.perf_counter()
        bare.step()
    sync(device)
    return full, args.steps * args.batch / (time.perf_counter() - start)


def tflops(clips_per_s: float, size: int, passes: int) -> float:
    return clips_per_s * FORWARD_GFLOP_256 * passes * (size * size) / (256 * 256) / 1000


def machine() -> str:
    if torch.cuda.is_available():
        device = f"{torch.cuda.get_device_name(0)}"
    else:
        cpu = platform.processor() or "cpu"
        with contextlib.suppress(OSError, StopIteration):
            lines = Path("/proc/cpuinfo").read_text().splitlines()
            cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        device = f"{cpu}, {os.cpu_count()} cores"
    return f"{device}; torch {torch.__version__}, {torch.get_num_threads()} threads"


def emit(args: argparse.Namespace, text: str) -> None:
    """Print one line of a table, and append it to ``--md`` when given (the device script collects them)."""
    print(text, flush=True)
    if args.md:
        with args.md.open("a") as f:
            f.write(text + "\n")


def median_rows(rounds: list[dict[tuple, float]]) -> dict[tuple, float]:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def section_train(args: argparse.Namespace) -> list[dict]:
    """Full training step of each variant next to the bare model step, per setting."""
    variants = [v for v in args.variants if v != "cifar_smoothmix" or args.intruders.is_dir()]
    if len(variants) < len(args.variants):
        print(f"note: {args.intruders} not found: cifar_smoothmix skipped", file=sys.stderr)
    rounds = []
    for _ in range(args.rounds):
        rates: dict[tuple, float] = {}
        for setting in args.settings:
            for variant in variants:
                cfg = compose_config(args, setting, variant_overrides(variant, args.intruders))
                full, bare = measure_steps(cfg, args)
                rates[(setting, variant, "full")], rates[(setting, variant, "bare")] = full, bare
        rounds.append(rates)
    rates = median_rows(rounds)
    rows = []
    for setting in args.settings:
        for variant in variants:
            full, bare = rates[(setting, variant, "full")], rates[(setting, variant, "bare")]
            fp32 = rates.get(("fp32", variant, "full"))
            row = {"section": "train", "size": args.size, "batch": args.batch, "setting": setting,
                   "variant": variant, "clips_per_s": full, "bare_clips_per_s": bare,
                   "overhead_pct": 100 * (bare / full - 1), "vs_fp32": full / fp32 if fp32 else None}
            if args.accelerator == "gpu":
                row["tflops"], row["bare_tflops"] = tflops(full, args.size, 3), tflops(bare, args.size, 3)
            rows.append(row)
    head = "| setting | pseudo | full step clips/s | bare model clips/s | overhead | full step × fp32 |"
    if args.accelerator == "gpu":
        head += " TFLOP/s full (bare) |"
    title = f"Training throughput, 16×{args.size}×{args.size} clips, batch {args.batch}"
    emit(args, f"\n### {title} — {machine()}\n")
    emit(args, head)
    emit(args, "|" + "---|" * (head.count("|") - 1))
    for r in rows:
        vs = f"{r['vs_fp32']:.2f}×" if r["vs_fp32"] is not None else "–"
        line = (f"| {r['setting']} | {r['variant']} | {r['clips_per_s']:.2f} | {r['bare_clips_per_s']:.2f} | "
                f"{r['overhead_pct']:+.1f} % | {vs} |")
        if "tflops" in r:
            line += f" {r['tflops']:.1f} ({r['bare_tflops']:.1f}) |"
        emit(args, line)
    how = ("medians of per-step times, each real step followed by one bare step" if args.accelerator == "cpu"
           else "means over the timed steps")
    emit(args, f"\n({how}; {args.warmup} warm-up + {args.steps} timed steps; median of {args.rounds} "
               "round(s); overhead = full-step time / bare-step time − 1)")
    return rows


def section_eval(args: argparse.Namespace) -> list[dict]:
    """Windows/s of ``Trainer.test`` over the whole test set (the AUC itself excluded from the time)."""
    rows = []
    for setting in args.settings:
        timer = LoopTimer(0)
        cfg = compose_config(args, setting, [f"dataset.eval_batch_size={args.eval_batch}"])
        with tempfile.TemporaryDirectory() as tmp:
            trainer, module, datamodule = timed_run(cfg, Path(tmp), timer, limit_test_batches=args.limit)
            start = time.perf_counter()
            try:
                trainer.test(module, datamodule=datamodule, verbose=False)
            except LnraError:
                if args.limit == 1.0:
                    raise  # a partial pass (--limit) has too few windows for the AUC; only its speed counts
            total = time.perf_counter() - start
        loop = timer.marks["eval_last_batch"] - timer.marks["eval_start"]
        rows.append({"section": "eval", "size": args.size, "setting": setting, "windows": timer.eval_windows,
                     "whole_test_set": args.limit == 1.0,
                     "windows_per_s": timer.eval_windows / loop, "loop_s": loop, "total_s": total,
                     "inference_mode": timer.inference_mode})
    fp32 = next((r["windows_per_s"] for r in rows if r["setting"] == "fp32"), None)
    emit(args, f"\n### Evaluation throughput, Ped2 test windows at {args.size}×{args.size}, "
          f"batch {args.eval_batch} — {machine()}\n")
    emit(args, "| setting | windows | windows/s | × fp32 | scoring loop | test() with AUC | inference_mode |")
    emit(args, "|---|---|---|---|---|---|---|")
    for r in rows:
        vs = f"{r['windows_per_s'] / fp32:.2f}×" if fp32 else "–"
        total = f"{r['total_s']:.1f} s" if r["whole_test_set"] else "(partial pass: no AUC)"
        emit(args, f"| {r['setting']} | {r['windows']} | {r['windows_per_s']:.1f} | {vs} | "
                   f"{r['loop_s']:.1f} s | {total} | {'yes' if r['inference_mode'] else 'no'} |")
    return rows


def section_epoch(args: argparse.Namespace) -> list[dict]:
    """One training epoch over all Ped2 training clips, then one validation pass (the AUC)."""
    rows = []
    for setting in args.settings:
        for variant in args.variants:
            timer = LoopTimer(1)
            cfg = compose_config(args, setting, variant_overrides(variant, args.intruders))
            with tempfile.TemporaryDirectory() as tmp:
                trainer, module, datamodule = timed_run(cfg, Path(tmp), timer, max_epochs=1,
                                                        limit_train_batches=args.limit)
                start = time.perf_counter()
                trainer.fit(module, datamodule=datamodule)
                total = time.perf_counter() - start
            m = timer.marks
            train_s, val_s = m["train_end"] - m["train_start"], m["eval_end"] - m["eval_start"]
            rows.append({"section": "epoch", "size": args.size, "batch": args.batch, "setting": setting,
                         "variant": variant, "steps": timer.train_steps, "train_s": train_s, "val_s": val_s,
                         "fit_s": total, "projected_60_epochs_min": (train_s + val_s)})
    emit(args, f"\n### One Ped2 epoch at {args.size}×{args.size}, batch {args.batch} — {machine()}\n")
    emit(args, "| setting | pseudo | train steps | train | validation | fit() | 60 epochs, each validated |")
    emit(args, "|---|---|---|---|---|---|---|")
    for r in rows:
        emit(args, f"| {r['setting']} | {r['variant']} | {r['steps']} | {r['train_s']:.1f} s | "
                   f"{r['val_s']:.1f} s | {r['fit_s']:.1f} s | {r['projected_60_epochs_min']:.1f} min |")
    return rows


SECTIONS = {"train": section_train, "eval": section_eval, "epoch": section_epoch}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default_data = Path(os.environ.get("LNRA_DATA_DIR", REPO.parent / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("section", choices=sorted(SECTIONS))
    parser.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["fp32", "fast"])
    parser.add_argument("--variants", nargs="+", default=["none", "cifar_smoothmix", "skip_frame"])
    parser.add_argument("--size", type=int, default=64, help="frame height and width")
    parser.add_argument("--batch", type=int, default=4, help="training batch (the paper's 4)")
    parser.add_argument("--eval-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per measurement")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=float, default=1.0,
                        help="eval/epoch: fraction (<=1) or number of batches of the loops (dry runs)")
    parser.add_argument("--data-dir", type=Path, default=default_data, help="holds ped2/ (paths.data_dir)")
    parser.add_argument("--labels", type=Path, default=None,
                        help="frame_labels_ped2.npy (default: <data-dir>/labels/ when there)")
    parser.add_argument("--intruders", type=Path, default=None,
                        help="ImageFolder for cifar_smoothmix (default <data-dir>/intruders/cifar10_subset)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", type=Path, default=None, help="append the rows to this JSON file")
    parser.add_argument("--md", type=Path, default=None, help="append the table to this Markdown file")
    args, overrides = parser.parse_known_args(argv)
    args.overrides = overrides
    args.data_dir = args.data_dir.resolve()
    args.intruders = (args.intruders or args.data_dir / "intruders" / "cifar10_subset").resolve()
    if args.labels is None and (args.data_dir / "labels" / "frame_labels_ped2.npy").is_file():
        args.labels = args.data_dir / "labels" / "frame_labels_ped2.npy"
    args.limit = int(args.limit) if args.limit > 1 else args.limit
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = SECTIONS[args.section](args)
    if args.json:
        old = json.loads(args.json.read_text()) if args.json.is_file() else []
        args.json.write_text(json.dumps(old + [dict(r, machine=machine()) for r in rows], indent=1))
    return rows


if __name__ == "__main__":
    main()
