"""glibc's allocator told to keep freed memory for reuse, once per process, before the tensors start: by
default it hands every block over 128 KiB back to the OS on ``free``, so each large CPU tensor a step creates
is paid again in page faults (a 4-video Ped2 test on 2 cores: 9 of its 35 CPU seconds in the kernel, 0.8 s
with the two thresholds raised; benchmarks/RESULTS.md, issue 28), for about a tenth more peak memory."""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
KEEP_BELOW = 1 << 30  # blocks up to 1 GiB come from (and go back to) the heap, not fresh mappings


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds to 1 GiB; whether the C library took them."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows and musl have no libc.so.6)
        return False
    return all(mallopt(option, KEEP_BELOW) == 1 for option in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD))
