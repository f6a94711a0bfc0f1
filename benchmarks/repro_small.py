"""Reduced-scale reproduction: train ``experiment=ped2_small`` per variant and precision setting, then print
one Markdown table of the last- and best-epoch AUCs and the training speed (issues 7.5, 10.3, 25.4).

A variant is a pseudo-anomaly option (``skip_frame``) or one of the method family's cells below
(``steal``, ``memae_skip``, ...). Each run is a real ``python run.py`` subprocess, so the numbers are exactly
what a user gets. Runs go one after another (the CPU is the bottleneck); every extra ``key=value`` is
passed to all of them.

    python benchmarks/repro_small.py --variants none skip_frame --settings fast fp32 \
        paths.data_dir=../shared/data trainer.max_epochs=2 +trainer.limit_train_batches=100
    python benchmarks/repro_small.py --variants baseline lntra_patch lntra_skip steal memae memae_skip \
        --settings fast paths.data_dir=../shared/data trainer.max_epochs=3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The two settings of issue 10: the fast path is the CPU default (bf16 where native + channels-last 3D).
SETTINGS = {
    "fast": ["trainer.precision=auto", "model.channels_last=true"],
    "fp32": ["trainer.precision=32-true", "model.channels_last=false"],
}


# The family's cells (issue 25): LNTRA, STEAL Net and MemAE, and MemAE trained with LNTRA's skip frames. The
# patch cell pastes the CIFAR-10 subset (an image folder, whole images like CIFAR) for CIFAR-100, which is
# not available here: its root is <data_dir>/intruders/cifar10_subset.
FAMILY = {
    "baseline": ["pseudo=none"],
    "lntra_patch": ["pseudo=cifar_smoothmix", "pseudo/source=image_folder", "pseudo.source.crop=false",
                    "pseudo.source.root=${paths.data_dir}/intruders/cifar10_subset"],
    "lntra_skip": ["pseudo=skip_frame"],
    "steal": ["loss=steal", "pseudo=skip_frame", "pseudo.name=steal_skip_frame", "pseudo.skip.p=0.01"],
    "memae": ["model=memae", "pseudo=none"],
    "memae_skip": ["model=memae", "pseudo=skip_frame"],
}


def run_one(variant: str, setting: str, overrides: list[str], out_dir: Path, threads: int | None) -> dict:
    run_dir = out_dir / f"{setting}_{variant}"
    cell = FAMILY.get(variant, [f"pseudo={variant}"])
    cmd = [sys.executable, "run.py", "experiment=ped2_small", *cell, *SETTINGS[setting],
           "logger=csv", f"hydra.run.dir={run_dir}", *overrides]
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    print("+", " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    (out_dir / f"{setting}_{variant}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not (run_dir / "results.json").is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"variant": variant, "setting": setting, "error": " | ".join(tail), "wall_s": wall}
    res = json.loads((run_dir / "results.json").read_text())
    return {"variant": variant, "setting": setting, "wall_s": wall, "epochs": len(res["history"]),
            "last_auc": 100 * res["auc_micro"], "best_auc": 100 * res["best_auc_micro"],
            "best_epoch": res["best_epoch"], "history": [100 * h["auc_micro"] for h in res["history"]],
            "clips_per_s": res.get("train_clips_per_s") or float("nan")}


def table(rows: list[dict]) -> str:
    lines = ["| variant | setting | epochs | last-epoch AUC % | best-epoch AUC % (epoch) | per-epoch AUC % "
             "| training clips/s | wall |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['variant']} | {r['setting']} | failed: {r['error']} | | | | | |")
            continue
        hist = ", ".join(f"{a:.2f}" for a in r["history"])
        lines.append(f"| {r['variant']} | {r['setting']} | {r['epochs']} | {r['last_auc']:.2f} | "
                     f"{r['best_auc']:.2f} ({r['best_epoch']}) | {hist} | {r['clips_per_s']:.1f} | "
                     f"{r['wall_s'] / 60:.1f} min |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["none", "skip_frame"])
    parser.add_argument("--settings", nargs="+", default=["fast", "fp32"], choices=sorted(SETTINGS))
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for each run")
    parser.add_argument("--out-dir", type=Path, default=REPO / "outputs" / "ped2_small")
    args, overrides = parser.parse_known_args()
    args.out_dir = args.out_dir.resolve()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for setting in args.settings:
        for variant in args.variants:
            rows.append(run_one(variant, setting, overrides, args.out_dir, args.threads))
            (args.out_dir / "results.json").write_text(json.dumps(rows, indent=1))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    settings = " ".join(overrides) or "(none)"
    print(f"\nped2_small, overrides: {settings}, threads: {args.threads or 'default'}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
