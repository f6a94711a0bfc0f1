"""Offline tools on trained checkpoints and runs: ``lnra-<name>`` or ``python -m lnra.tools.<name>``."""

from __future__ import annotations

import argparse
from pathlib import Path


def checkpoint_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A tool's parser: the checkpoint, and the clip shape where it records none (the paper's .pth)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--ckpt", required=True, type=Path, help="an lnra .ckpt or the paper's original .pth")
    for name, what in (("clip-len", "clip length"), ("height", "frame height"), ("width", "frame width")):
        p.add_argument(f"--{name}", type=int, help=f"override the checkpoint's {what}")
    return p
