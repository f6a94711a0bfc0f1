"""lnra's entry point: ``python run.py [group=option ...] [key=value ...]`` (Hydra; ``-m`` sweeps). A run is
checked whole (one ``error:`` line a mistake, exit 2) before its folder exists; sweep jobs check their own."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

import hydra
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

os.environ.setdefault("LNRA_ROOT", str(Path(__file__).resolve().parent))
# hydra/launcher=ray: every job's epoch and AUC lines, not Ray's "[repeated Nx across cluster]" for them.
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# conf/hydra/launcher/ray.yaml has the Ray plug-in's name (to get lnra's settings) and needs no schema.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/ray' is validated against ConfigStore schema")

from lnra.errors import LnraError, exit_status, refuse  # noqa: E402 - LNRA_ROOT first: the config's paths read it
from lnra.run.command import Command, command_mistakes, prepare, variants  # noqa: E402

CONF = Path(__file__).resolve().parent / "conf"
NOT_A_RUN = ("help", "hydra_help", "cfg", "info", "shell_completion", "version")


def job(cfg: DictConfig) -> object:
    """A sweep's job, as Hydra's launcher runs it: it checks its own config and inputs, then runs."""
    from lnra.run.console import setup_console
    from lnra.run.tasks import check, run_task

    setup_console()
    try:
        check(cfg)
        return run_task(cfg, Path(HydraConfig.get().runtime.output_dir))
    except LnraError as err:
        logging.getLogger("lnra").error(f"error: {err}")  # into the job's log; the report shows it
        raise  # the sweep records this job as failed and goes on with the others


hydra_main = hydra.main(version_base="1.3", config_path="conf", config_name="config")(job)


def single_run(overrides: list[str], refused: list[str]) -> object:
    """Compose once, check once (``refused`` and every mistake of the rest), claim the run directory, run; a
    run that stops early says what it saved (:func:`lnra.run.rundir.stops_said`)."""
    command = Command(CONF)
    cfg = command.compose(overrides)
    from lnra.run.console import setup_console
    from lnra.run.rundir import claim_run_dir, stops_said
    from lnra.run.tasks import check, run_task

    try:
        check(cfg, inputs=not refused)
    except LnraError as err:
        refused = [*refused, *str(err).split("\nerror: ")]
    refuse(refused)
    run_dir = claim_run_dir(cfg)

    def task(task_cfg: DictConfig) -> object:
        setup_console()
        return run_task(task_cfg, run_dir)

    with stops_said(run_dir, sys.argv, OmegaConf.select(cfg, "trainer.max_epochs")):
        return command.run(cfg, run_dir, task)


def check_sweep(overrides: list[str], refused: list[str]) -> None:
    """Each swept value with the other overrides, and the sweep's folder, checked before any job starts."""
    from lnra.run.rundir import sweep_dir_problem
    from lnra.run.tasks import check

    command = Command(CONF)
    lines: list[str] = list(refused)
    for variant in variants(overrides):
        try:
            cfg = command.compose(variant)
            lines += [problem] if (problem := sweep_dir_problem(cfg)) else []
            check(cfg, inputs=False, sweep=True)
        except LnraError as err:
            lines += str(err).split("\nerror: ")
    GlobalHydra.instance().clear()  # Hydra's own sweep starts afresh
    refuse(list(dict.fromkeys(lines)))


def main() -> None:
    # matplotlib says once, the first time, that it builds its font cache: not a message for this console
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    args = get_args_parser().parse_args()
    overrides = prepare(args.overrides, CONF)
    flags = [arg for arg in sys.argv[1:] if arg not in args.overrides]  # Hydra's flags and their values
    if not any(getattr(args, flag, None) for flag in NOT_A_RUN):  # --help, --cfg, ...: Hydra answers them
        refused, good = command_mistakes(overrides, CONF, multirun=args.multirun)
        if not args.multirun:
            sys.exit(exit_status(lambda: single_run(good, refused)))
        if code := exit_status(lambda: check_sweep(good, refused)):
            sys.exit(code)
    sys.argv = [sys.argv[0], *flags, *overrides]
    hydra_main()


if __name__ == "__main__":
    main()
