"""The CPUs of one sweep job under ``hydra/launcher=ray``: ``hydra.launcher.ray.remote.num_cpus``.

Ray sets a job's ``OMP_NUM_THREADS`` to the CPUs it reserves for it, so each job (one GPU) asks for the CPUs
that go with one GPU: Ray's default of one CPU would compute on one thread. A machine without a GPU is refused
here, where Ray would wait for one forever.
"""

from __future__ import annotations

import math

from lnra.errors import LnraError


def machine_cpus() -> float:
    """The CPUs Ray gives this machine: its cores, or a container's CPU quota. Ray's own count (a private
    function of the pinned Ray), since a share above it could never be scheduled: Ray would wait forever."""
    from ray._private.utils import get_num_cpus

    return get_num_cpus()


def cpus_per_gpu(cpus: int | None, gpus: int | None) -> float:
    """``cpus / gpus`` (``hydra.launcher.ray.init.num_cpus`` and ``num_gpus``; None: this machine's), rounded
    down to whole CPUs, or to 1/100 below one CPU, as Ray allows fractions."""
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    if gpus < 1:
        raise LnraError(
            "hydra/launcher=ray runs one GPU per job, but this machine has no GPU: declare some with "
            "hydra.launcher.ray.init.num_gpus=N (N jobs at a time, here on the CPU), use the basic "
            "launcher, or for a Ray cluster (hydra.launcher.ray.init.address=auto) set "
            "hydra.launcher.ray.remote.num_cpus to the cores per GPU of its machines"
        )
    share = (cpus if cpus is not None else machine_cpus()) / gpus
    return float(math.floor(share)) if share >= 1 else math.floor(share * 100) / 100
