"""Random number generator states in every checkpoint, so that a resumed run draws what an uninterrupted
one would."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from pytorch_lightning.callbacks import Callback


def collect_rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) generator states, in types ``torch.load(weights_only=True)``
    reads back (the NumPy key array becomes a list)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state(),
                             "numpy": (kind, keys.tolist(), pos, has_gauss, gauss)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RngStateCallback(Callback):
    """Puts the generator states into every checkpoint and restores them on resume (Lightning does not):
    a resumed run then draws the same shuffles, skip frames and pseudo-anomaly choices as an uninterrupted
    one. Restoring happens before the first batch of the resumed epoch, when nothing has drawn yet."""

    def state_dict(self) -> dict[str, Any]:
        return collect_rng_state()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        restore_rng_state(state_dict)
