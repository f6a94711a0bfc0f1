"""Loading weights into a module for testing: lnra's own Lightning checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch

from lnra.errors import LnraError
from lnra.module import LnraModule


def load_checkpoint(module: LnraModule, path: Path) -> int | None:
    """Load a Lightning checkpoint's weights into ``module``; return its epoch."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged or foreign file
        raise LnraError(f"cannot read checkpoint {path}: {type(err).__name__}: {err}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise LnraError(f"{path} is not an lnra checkpoint (no 'state_dict')")
    missing, unexpected = module.load_state_dict(checkpoint["state_dict"], strict=False)
    if missing or unexpected:
        raise LnraError(f"checkpoint {path} does not fit the model: missing {missing[:3]}, unexpected "
                        f"{unexpected[:3]}; check model.widths and dataset.height/width")
    module.history = list(checkpoint.get("lnra_history", []))
    return checkpoint.get("epoch")
