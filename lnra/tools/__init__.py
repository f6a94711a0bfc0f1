"""Offline tools on trained checkpoints and runs: ``lnra-<name>`` or ``python -m lnra.tools.<name>``."""

from __future__ import annotations

import argparse
from pathlib import Path


def checkpoint_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A tool's parser: the checkpoint, and the clip shape where it records none (the paper's .pth)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--ckpt", required=True, type=Path, help="an lnra .ckpt or the paper's original .pth")
    p.add_argument("--clip-len", type=int, help="override the checkpoint's clip length")
    p.add_argument("--height", type=int, help="override the checkpoint's frame height")
    p.add_argument("--width", type=int, help="override the checkpoint's frame width")
    return p
