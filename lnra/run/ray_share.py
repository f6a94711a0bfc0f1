"""The CPUs of one sweep job under ``hydra/launcher=ray``: Ray sets a job's ``OMP_NUM_THREADS`` to the CPUs
it reserves, so each job (one GPU) asks for those of one GPU, not Ray's default of one."""

from __future__ import annotations

import math

from lnra.errors import LnraError


def cpus_per_gpu(cpus: float | None, gpus: int | None) -> float:
    """``cpus / gpus`` (None: this machine's), rounded down to whole CPUs, or to 1/100 below one; a machine
    without a GPU is refused here, where Ray would wait for one forever."""
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    if gpus < 1:
        raise LnraError("hydra/launcher=ray runs one GPU per job, but this machine has no GPU: declare "
                        "some with hydra.launcher.ray.init.num_gpus=N (N jobs at a time, here on the "
                        "CPU), use the basic launcher, or for a Ray cluster "
                        "(hydra.launcher.ray.init.address=auto) set hydra.launcher.ray.remote.num_cpus to "
                        "the cores per GPU of its machines")
    if cpus is None:  # Ray's own (private) count: a share above it could never be scheduled
        from ray._private.utils import get_num_cpus

        cpus = get_num_cpus()
    share = cpus / gpus
    return float(math.floor(share)) if share >= 1 else math.floor(share * 100) / 100
