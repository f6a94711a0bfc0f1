"""The allocator setting every run and ``lnra.tools.detect`` make first: freed tensors' pages are reused."""

from __future__ import annotations

import subprocess
import sys

import pytest

PAGE_FAULTS = """
import resource, torch
from lnra.run.allocator import keep_freed_memory
assert keep_freed_memory()
def faults():
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):  # a batch's error maps and their bin indices: 5.5 and 11 MB, as in the pixel metrics
        maps = torch.ones(16, 240, 360)
        index = (maps * 2).long()
        del maps, index
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
faults()
print(min(faults() for _ in range(3)))  # the heap may still grow once
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_large_tensors_reuse_freed_pages_instead_of_faulting_in_new_ones() -> None:
    """20 rounds touch about 80,000 pages; a fresh mapping per tensor faults each of them in (glibc's default
    faulted 5,000 to 107,000 here), reuse none."""
    out = subprocess.run([sys.executable, "-c", PAGE_FAULTS], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 800
