"""glibc's allocator told to keep freed memory for reuse, once per process, before the tensors start.

By default glibc hands every block over 128 KiB to the OS on ``free`` and maps fresh pages for the next one,
so each large CPU tensor a step creates (activations, error maps of 240×360 pixels) is paid again in page
faults: on a 2-core CPU a 4-video Ped2 test spent a fifth of its wall time in the kernel and in the pixel
metrics' first touches of new pages. Raising the two thresholds keeps those blocks in the heap: the same
command ran 2.1× faster (benchmarks/RESULTS.md), for about a tenth more peak memory. Elsewhere than glibc
(macOS, musl) nothing changes.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
KEEP_BELOW = 1 << 30  # blocks up to 1 GiB come from (and go back to) the heap, not fresh mappings


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds to 1 GiB; whether the C library took them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return all(mallopt(option, KEEP_BELOW) == 1 for option in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD))
