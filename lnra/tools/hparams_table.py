"""Read a sweep's HParams table back from its TensorBoard event files, without TensorBoard's server.
``python -m lnra.tools.hparams_table outputs/multiruns/<time>`` (docs/guide.md, What a run leaves)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from lnra.callbacks import COLUMNS, METRICS
from lnra.diskio import unreadable
from lnra.errors import LnraError, exit_status
from lnra.tools.report import markdown

VALUE_KINDS = ("number_value", "string_value", "bool_value")  # what log_hyperparams writes


def read_run(run_dir: Path) -> dict[str, Any] | None:
    """The HParams values and last metric values of one event-file folder, or None if it has none."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()
    try:
        content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    except KeyError:  # no HParams session, or no record of the plugin at all
        return None
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    values = {name: getattr(value, kind) if (kind := value.WhichOneof("kind")) in VALUE_KINDS else None
              for name, value in start.hparams.items()}
    row = {name: values.pop(name) for name in COLUMNS if name in values} | values
    scalars = set(events.Tags()["scalars"])
    return row | {tag.split("/", 1)[1]: events.Scalars(tag)[-1].value if tag in scalars else math.nan
                  for tag in METRICS}


def read_hparams(logdir: Path) -> list[dict[str, Any]]:
    """Every run under ``logdir`` that wrote an HParams session, best ``auc_best`` first; none is an error."""
    if problem := unreadable(logdir, "log folder", "folder"):
        raise LnraError(problem)
    files = sorted(Path(logdir).rglob("events.out.tfevents.*"))
    rows = [row for row in map(read_run, sorted({p.parent for p in files})) if row is not None]
    if not rows:
        named = ", ".join(map(str, files[:3])) + (" …" if len(files) > 3 else "")
        raise LnraError(f"no HParams session in {named}" if files else
                        f"no TensorBoard event files under {logdir}")
    return sorted(rows, key=lambda r: -r["auc_best"] if not math.isnan(r["auc_best"]) else math.inf)


def table(rows: list[dict[str, Any]]) -> str:
    """The runs as a Markdown table, floats to 4 significant digits."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return "\n".join(markdown(columns, ([f"{v:.4g}" if isinstance(v, float) else str(v)
                                         for v in (row.get(c, "") for c in columns)] for row in rows)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=Path, help="a run or sweep directory (searched recursively)")
    logdir = parser.parse_args(argv).logdir
    return exit_status(lambda: print(table(read_hparams(logdir))))


if __name__ == "__main__":
    sys.exit(main())
