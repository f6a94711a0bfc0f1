"""Export a trained autoencoder: ``python -m lnra.tools.export --ckpt PATH --format onnx|torchscript``.

The file is kept only if, loaded back, it reproduces the model (docs/guide.md, Looking at results)."""

from __future__ import annotations

import logging
import sys
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch

from lnra.diskio import atomic_path, creatable
from lnra.errors import LnraError, exit_status
from lnra.method.model import Autoencoder3D
from lnra.run.checkpoints import model_from_checkpoint
from lnra.tools import checkpoint_parser

TOLERANCE = 1e-4  # outputs are tanh values in [-1, 1]


def _example(model: Autoencoder3D, batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(batch, model.in_channels, *model.clip_shape, generator=generator) * 2 - 1


# TorchScript works but warns (FutureWarning) that it is deprecated on every call; say it once, in the README.
_quiet_jit = partial(warnings.catch_warnings, action="ignore", category=FutureWarning)


def _export_torchscript(model: Autoencoder3D, path: Path) -> None:
    with _quiet_jit():
        torch.jit.save(torch.jit.trace(model, _example(model, 1)), str(path))


def _run_torchscript(path: Path, clips: torch.Tensor) -> np.ndarray:
    with _quiet_jit(), torch.no_grad():
        return torch.jit.load(str(path), map_location="cpu")(clips).numpy()


def _export_onnx(model: Autoencoder3D, path: Path) -> None:
    try:
        import onnxscript  # noqa: F401 — torch's ONNX exporter needs it
    except ImportError:
        raise LnraError("ONNX export needs the packages onnx and onnxscript: pip install 'lnra[onnx]'"
                        ) from None
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(model, (_example(model),), dynamo=True, input_names=["clips"],
                                output_names=["reconstruction"], dynamic_shapes=({0: batch},), verbose=False)
    program.save(str(path), external_data=False)


def _run_onnx(path: Path, clips: torch.Tensor) -> np.ndarray:
    try:
        import onnxruntime
    except ImportError:
        raise LnraError("checking the ONNX file needs onnxruntime: pip install 'lnra[onnx]'") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: clips.numpy()})[0]


# format → the file's suffix, its writer and its runner
EXPORTERS = {"torchscript": (".pt", _export_torchscript, _run_torchscript),
             "onnx": (".onnx", _export_onnx, _run_onnx)}


def export(ckpt: Path, fmt: str, out: Path | None = None, overwrite: bool = False,
           clip_len: int | None = None, height: int | None = None, width: int | None = None
           ) -> tuple[Path, float]:
    """Write the model in ``fmt`` (by default next to the checkpoint); its path and largest difference."""
    suffix, write, run = EXPORTERS[fmt]
    out = out or ckpt.with_suffix(suffix)
    if problem := "is a folder, not a file" if out.is_dir() else creatable(out.parent):
        raise LnraError(f"--out {out}: {problem}")
    if out.exists() and not overwrite:
        raise LnraError(f"{out} already exists; choose another --out or add --overwrite")
    model = model_from_checkpoint(ckpt, clip_len, height, width)
    clips = _example(model, 3)  # another batch size than traced with: the batch axis must be free
    with torch.inference_mode():  # the reference output only: no graph kept of a full-size forward
        expected = model(clips).numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        write(model, tmp)
        diff = float(np.abs(run(tmp, clips) - expected).max())
        if not diff <= TOLERANCE:
            raise LnraError(f"the exported {fmt} model differs from PyTorch by {diff:.2e} (> {TOLERANCE}); "
                            "nothing written")
    return out, diff


def main(argv: list[str] | None = None) -> int:
    p = checkpoint_parser("python -m lnra.tools.export", __doc__.split("\n\n")[0])
    p.add_argument("--format", dest="fmt", required=True, choices=sorted(EXPORTERS))
    p.add_argument("--out", type=Path, help="output file (default: the checkpoint's name, .onnx or .pt)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    return exit_status(lambda: print("{} (max |difference| to PyTorch: {:.2e})".format(
        *export(**vars(args)))))


if __name__ == "__main__":
    sys.exit(main())
