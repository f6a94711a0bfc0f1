"""A checkpoint in the paper's state-dict format, as the tools that read one (detect, export) expect."""

from __future__ import annotations

from pathlib import Path

import torch

from lnra.method.model import Autoencoder3D

TINY_WIDTHS = (8, 8, 16, 16)  # the paper's layer layout, narrow enough for a CPU test


def write_paper_state_dict(path: Path, widths: tuple[int, ...] = TINY_WIDTHS) -> Autoencoder3D:
    """Save ``{"model_statedict": ...}`` of a seeded random 16x32x32 autoencoder (greyscale) at ``path``;
    return the model in eval mode, to compare the tool's outputs with."""
    torch.manual_seed(0)
    model = Autoencoder3D(1, widths, 16, 32, 32).eval()
    torch.save({"model_statedict": model.state_dict()}, path)
    return model
