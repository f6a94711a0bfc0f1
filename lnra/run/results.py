"""What a test leaves in the run directory: ``results.json`` (the numbers) and ``scores.csv`` (per frame)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from lnra.diskio import atomic_path, explained_write_errors
from lnra.method.scoring import Evaluation


def best_epoch(history: list[dict[str, float]]) -> dict[str, float] | None:
    """The validation epoch with the highest micro AUC (the paper selected epochs this way)."""
    return max(history, key=lambda h: h["auc_micro"]) if history else None


def write_results(run_dir: Path, evaluation: Evaluation, meta: dict[str, Any],
                  history: list[dict[str, float]]) -> Path:
    """Write both files and return the path of ``results.json``.

    ``results.json`` marks a run as finished (a resumed sweep skips it), so it is written last and by
    rename: it exists complete or not at all. A full disk or a read-only folder is one line.
    """
    run_dir = Path(run_dir)
    best = best_epoch(history)
    results = {
        **meta,
        "auc_micro": evaluation.auc_micro,
        "auc_macro": evaluation.auc_macro,
        "auc_micro_global": evaluation.auc_micro_global,
        "n_frames": evaluation.n_frames,
        "best_epoch": best["epoch"] if best else None,
        "best_auc_micro": best["auc_micro"] if best else None,
        "history": history,
    }
    path = run_dir / "results.json"
    with explained_write_errors(path, "results"):
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "scores.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["video", "frame", "psnr", "anomaly_score", "label"])
            for v, t, p, a, y in zip(evaluation.video_index, evaluation.frame_index, evaluation.psnr,
                                     evaluation.anomaly_score, evaluation.labels, strict=True):
                writer.writerow([evaluation.videos.names[v], int(t), f"{p:.6f}", f"{a:.6f}", int(y)])
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(results, indent=2, allow_nan=True))
    return path
