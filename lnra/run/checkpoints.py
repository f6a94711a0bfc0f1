"""Weights for testing, scoring and export from lnra's checkpoints and the paper's, which pickle whole
modules: torch's ``weights_only`` unpickler maps them to an inert :class:`PickledModule`, refuses the rest."""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Mapping
from contextlib import suppress
from functools import cache, reduce
from pathlib import Path
from typing import NamedTuple

import torch
from omegaconf import OmegaConf
from torch import nn

from lnra.diskio import unreadable
from lnra.errors import LnraError
from lnra.method.model import Autoencoder3D

log = logging.getLogger(__name__)

ORIGINAL_CLASSES = ("model.autoencoder.convAE", "model.reconstruction_model.Reconstruction3DEncoder",
                    "model.reconstruction_model.Reconstruction3DDecoder")


class PickledModule(nn.Module):
    """Stand-in for a pickled ``nn.Module``: ``nn.Module``'s own ``__setstate__`` and ``state_dict`` read the
    unpickled attributes; it has no code of its own (no ``forward``), so nothing else runs."""


@cache
def _stand_ins() -> tuple[tuple[type, str], ...]:
    """(stand-in class, class path) for the original classes and every layer class of ``torch.nn``."""
    paths = {*ORIGINAL_CLASSES, *(f"{obj.__module__}.{obj.__qualname__}" for obj in vars(nn).values()
                                  if isinstance(obj, type) and issubclass(obj, nn.Module))}
    return tuple((type(p.rsplit(".", 1)[1], (PickledModule,), {}), p) for p in sorted(paths))


class CheckpointWeights(NamedTuple):
    """The autoencoder's weights from any supported checkpoint format, keys as in :class:`Autoencoder3D`."""

    state_dict: dict[str, torch.Tensor]
    kind: str  # "lnra" (a Lightning checkpoint of ours) or "original" (the paper's released files)
    epoch: int | None
    history: list[dict[str, float]]
    clip_shape: tuple[int, int, int] | None  # (T, H, W) the weights were trained on, where known
    path: Path  # the file they were read from, for messages

    def mismatch_message(self) -> str:
        return (f"the {self.kind} checkpoint {self.path} is not the paper's 3D autoencoder (its weights are "
                f"{list(self.state_dict)[:3]}..., expected encoder.encoder.N.* and decoder.decoder.N.*)")


def read_weights(path: Path) -> CheckpointWeights:
    """Read a checkpoint of either kind without building a model: ``torch.load`` that rebuilds tensors and
    containers only, module pickles become stand-ins."""
    if problem := unreadable(path, "checkpoint", "file"):
        raise LnraError(problem)
    with torch.serialization.safe_globals(list(_stand_ins())):  # the stand-ins count as safe
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            refused = re.findall(r"Unsupported global: GLOBAL (\S+)", str(err))  # the unpickler names one
            with suppress(Exception):  # a zip checkpoint: every global the safe loader refuses
                refused = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path))) or refused
            if not refused:
                raise LnraError(f"cannot read checkpoint {path}: not a file written by torch.save") from None
            raise LnraError(f"refusing to unpickle {path}: it refers to {', '.join(refused)}, which is "
                            "neither a tensor nor a model class of lnra or of the paper's code; a model "
                            "checkpoint needs no such code") from None
        except Exception as err:  # noqa: BLE001 — other bytes fail in any way (a bare KeyError, IndexError, …)
            first_line = (str(err).splitlines() or [""])[0]
            raise LnraError(f"cannot read checkpoint {path}: {type(err).__name__}: {first_line} "
                            "(truncated, or not a torch.save file?)") from None
    if not isinstance(raw, dict):
        raise LnraError(f"{path} holds a {type(raw).__name__}, not a checkpoint dict")
    if isinstance(raw.get("state_dict"), Mapping):
        state = {reduce(str.removeprefix, ("model.", "_orig_mod."), k): v
                 for k, v in raw["state_dict"].items() if k.startswith("model.")}
        shape = raw.get("lnra_clip_shape")
        if not shape:  # from the config of the run that wrote <run>/checkpoints/<name>.ckpt, where readable
            with suppress(Exception):
                d = OmegaConf.load(path.resolve().parent.parent / ".hydra" / "config.yaml").get("dataset", {})
                shape = int(d["clip_len"]), int(d["height"]), int(d["width"])
        history = (raw.get("callbacks") or {}).get("History", {}).get("epochs", [])
        return CheckpointWeights(state, "lnra", raw.get("epoch"), list(history),
                                 tuple(shape) if shape else None, path)
    original = raw.get("model_statedict")
    if isinstance(raw.get("model"), PickledModule):
        original = raw["model"].state_dict()
    if isinstance(original, Mapping):
        state = {k.removeprefix("module."): v for k, v in original.items()}
        return CheckpointWeights(state, "original", raw.get("epoch"), history=[], clip_shape=None, path=path)
    if "model" in raw:
        raise LnraError(f"{path}: its 'model' entry is a {type(raw['model']).__name__}, not a pickled module")
    raise LnraError(f"{path} is neither an lnra checkpoint ('state_dict') nor one of the paper's ('model' or "
                    f"'model_statedict'); its keys are {sorted(map(str, raw))[:8]}")


def load_weights_into(model: nn.Module, weights: CheckpointWeights) -> None:
    """Load strictly: every weight must be used and every parameter filled, shapes equal."""
    model = getattr(model, "_orig_mod", model)  # a torch.compile'd model keeps the real one here
    try:
        missing, unexpected = model.load_state_dict(weights.state_dict, strict=False)
    except RuntimeError as err:
        sizes = [line.strip() for line in str(err).splitlines() if "size mismatch" in line][:2]
        raise LnraError(f"checkpoint {weights.path} does not fit the model: {'; '.join(sizes) or err}; "
                        "check model.net.widths") from None
    if missing or unexpected:
        raise LnraError(f"checkpoint {weights.path} does not fit the model: missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]}; {weights.mismatch_message()}")


def load_checkpoint(module: nn.Module, path: Path, resuming: bool = False) -> CheckpointWeights:
    """Load a checkpoint of either kind into an ``LnraModule``'s net; return what was read. One that training
    continues from (``resuming``) is read before it starts, so a bad one fails in a line, not in a trace."""
    weights = read_weights(path)
    if resuming and weights.kind != "lnra":
        raise LnraError(f"{path} is one of the paper's original checkpoints: it holds weights only, no "
                        "optimiser or epoch, so training cannot continue from it; score it with task=test")
    load_weights_into(module.model, weights)
    if weights.kind == "original":
        log.info("loaded the paper's original checkpoint %s", path)
    return weights


def model_from_checkpoint(path: Path, clip_len: int | None = None, height: int | None = None,
                          width: int | None = None) -> Autoencoder3D:
    """The autoencoder a checkpoint was trained as, in eval mode (clip shape given, recorded or paper's)."""
    weights = read_weights(path)
    known = weights.clip_shape or (16, 256, 256)  # the paper's checkpoints were trained on 16×256×256 clips
    if weights.clip_shape is None and not (height and width):
        log.warning("%s does not record its resolution; assuming %dx%d", path, known[1], known[2])
    shape = (clip_len or known[0], height or known[1], width or known[2])
    # the four encoder convolutions' weights give the input channels and each stage's width
    convs = [weights.state_dict.get(f"encoder.encoder.{i}.weight") for i in (0, 3, 6, 9)]
    if any(conv is None for conv in convs):
        raise LnraError(weights.mismatch_message())
    model = Autoencoder3D(int(convs[0].shape[1]), tuple(int(conv.shape[0]) for conv in convs), *shape)
    load_weights_into(model, weights)
    return model.eval()
