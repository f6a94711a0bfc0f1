"""lnra's entry point: ``python run.py [group=option ...] [key=value ...]`` (Hydra)."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

os.environ.setdefault("LNRA_ROOT", str(Path(__file__).resolve().parent))
# hydra/launcher=ray: Ray would merge the jobs' console lines that differ only in their numbers (each job's
# epoch and AUC lines) into one "[repeated Nx across cluster]"; every job's line is shown instead.
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# conf/hydra/launcher/ray.yaml has the Ray plug-in's name, so that hydra/launcher=ray gets lnra's settings;
# Hydra checks it against the plug-in's schema of that name (it passes) and warns that this matching by
# name is deprecated. The file is complete without the schema, so it keeps working when Hydra drops it.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/ray' is validated against ConfigStore schema")

from lnra.errors import LnraError  # noqa: E402
from lnra.run.habits import lightning_habits  # noqa: E402
from lnra.run.inputs import check_inputs  # noqa: E402
from lnra.run.rundir import register_resolvers  # noqa: E402
from lnra.schema.preflight import preflight, single_run_config  # noqa: E402
from lnra.schema.validate import check_config  # noqa: E402

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> object:
    from lnra.run.console import setup_console
    from lnra.run.launch_guard import check_launch
    from lnra.run.tasks import run_task

    setup_console()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        check_config(cfg)  # run.py's pre-flight checked this command; a sweep's jobs are checked here
        check_launch(cfg)
        return run_task(cfg, run_dir)
    except LnraError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            logging.getLogger("lnra").error(f"error: {err}")  # into the job's log; the report shows it
            raise  # the sweep records this job as failed and goes on with the others
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def inputs_preflight(argv: list[str], config_dir: Path) -> None:
    """A single run's missing inputs (frames, labels, intruders, checkpoint), all in one line, before
    torch is imported and before Hydra makes a run directory: an answer in about a second. The tasks
    check again, for a sweep's jobs; a resumed run is left to its task (its run directory decides)."""
    cfg = single_run_config(argv, config_dir)
    if cfg is None or cfg.task not in ("train", "test") or cfg.get("resume"):
        return
    try:
        check_inputs(cfg, training=cfg.task == "train")
    except LnraError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    sys.argv[1:] = lightning_habits(sys.argv[1:])  # logger=false, as in Trainer(logger=False)
    conf_dir = Path(__file__).resolve().parent / "conf"
    preflight(sys.argv[1:], conf_dir)  # before Hydra makes the run directory
    inputs_preflight(sys.argv[1:], conf_dir)
    main()
