"""``python -m lnra.tools.export``: TorchScript and ONNX files reproduce the PyTorch outputs for any batch
size, and an existing file is never overwritten unless asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.checkpoints import write_paper_state_dict

from lnra.method.model import Autoencoder3D
from lnra.tools.export import main


@pytest.fixture
def ckpt(tmp_path) -> tuple[Path, Autoencoder3D]:
    path = tmp_path / "model.pth"
    return path, write_paper_state_dict(path)


def _clips(batch: int) -> torch.Tensor:
    return torch.rand(batch, 1, 16, 32, 32) * 2 - 1


def test_torchscript_reproduces_pytorch_and_refuses_to_overwrite(ckpt, capsys):
    path, model = ckpt
    args = ["--ckpt", str(path), "--format", "torchscript", "--height", "32", "--width", "32"]
    assert main(args) == 0
    out = path.with_suffix(".pt")
    clips = _clips(5)
    with torch.no_grad():
        np.testing.assert_allclose(torch.jit.load(str(out))(clips).numpy(), model(clips).numpy(), atol=1e-5)
    stamp = out.stat().st_mtime_ns
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err and out.stat().st_mtime_ns == stamp


@pytest.mark.slow  # the ONNX exporter takes ~20 s on 2 cores
def test_onnx_reproduces_pytorch(ckpt, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="ONNX export is optional: pip install 'lnra[onnx]'")
    pytest.importorskip("onnxscript", reason="ONNX export is optional: pip install 'lnra[onnx]'")
    path, model = ckpt
    out = tmp_path / "exported" / "ae.onnx"
    assert main(["--ckpt", str(path), "--format", "onnx", "--out", str(out), "--height", "32",
                 "--width", "32"]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    clips = _clips(4)
    got = session.run(None, {session.get_inputs()[0].name: clips.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(clips).numpy(), atol=1e-5)
    assert sorted(p.name for p in out.parent.iterdir()) == ["ae.onnx"]
