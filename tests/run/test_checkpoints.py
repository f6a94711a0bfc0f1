"""Checkpoints: the paper's original pickles (whole DataParallel modules of classes that are not
importable here, built from the paper's layer table independently of lnra's model) and state-dict files
load into our autoencoder with identical outputs; malicious,
truncated and foreign files are refused with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers.paths import REPO
from helpers.reference_ae import ReferenceDecoder, ReferenceEncoder
from torch import nn

from lnra.errors import LnraError
from lnra.method.model import Autoencoder3D
from lnra.method.module import LnraModule
from lnra.run.checkpoints import load_checkpoint, model_from_checkpoint, read_weights

WIDTHS = (8, 8, 16, 16)


@pytest.fixture
def original_classes() -> Iterator[tuple[type, type, type]]:
    """Classes at the original code's import paths, present only while the test writes its files."""
    names = ("model", "model.autoencoder", "model.reconstruction_model")
    saved = {n: sys.modules.get(n) for n in names}
    package = types.ModuleType("model")
    package.__path__ = []
    autoencoder = types.ModuleType("model.autoencoder")
    recon = types.ModuleType("model.reconstruction_model")

    # built from the paper's layer table (tests/helpers/reference_ae.py), not from lnra's classes
    class Reconstruction3DEncoder(ReferenceEncoder):
        pass

    class Reconstruction3DDecoder(ReferenceDecoder):
        pass

    class convAE(nn.Module):  # noqa: N801 — the original class name
        def __init__(self) -> None:
            super().__init__()
            self.encoder = Reconstruction3DEncoder(1, WIDTHS)
            self.decoder = Reconstruction3DDecoder(1, WIDTHS)
            self.chnum_in = 1

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.decoder(self.encoder(x))

    placed = ((Reconstruction3DEncoder, recon), (Reconstruction3DDecoder, recon), (convAE, autoencoder))
    for cls, mod in placed:
        cls.__module__, cls.__qualname__ = mod.__name__, cls.__name__
        setattr(mod, cls.__name__, cls)
    package.autoencoder, package.reconstruction_model = autoencoder, recon
    sys.modules.update(dict(zip(names, (package, autoencoder, recon), strict=True)))
    try:
        yield convAE, Reconstruction3DEncoder, Reconstruction3DDecoder
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _trained_like(model: nn.Module) -> nn.Module:
    """Non-trivial weights and BatchNorm statistics, so that a wrong mapping changes outputs."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                variance = "running_var" in name
                tensor.copy_(torch.rand_like(tensor) + 0.5 if variance else torch.randn_like(tensor) * 0.1)
    return model.eval()


def _write_original(tmp_path: Path, classes, statedict: bool = False):
    """A checkpoint in the paper's format; returns its path, a clip and the original model's output."""
    conv_ae = _trained_like(classes[0]())
    dp = nn.DataParallel(conv_ae)
    dp.device_ids, dp.output_device, dp.src_device_obj = [0], 0, torch.device("cuda", 0)  # as saved on a GPU
    optimizer = torch.optim.Adam(dp.parameters(), lr=1e-4)
    clip = torch.rand(2, 1, 16, 32, 32) * 2 - 1
    with torch.no_grad():
        expected = conv_ae(clip)
    path = tmp_path / "model.pth"
    payload = {"model_statedict": dp.state_dict()} if statedict else {"model": dp}
    torch.save({**payload, "optimizer": optimizer.state_dict(), "epoch": 59}, path)
    return path, clip, expected


def test_original_whole_module_pickle_loads_without_its_code(tmp_path, original_classes):
    path, clip, expected = _write_original(tmp_path, original_classes)
    for name in ("model", "model.autoencoder", "model.reconstruction_model"):
        sys.modules.pop(name)
    weights = read_weights(path)
    assert weights.kind == "original" and weights.epoch == 59
    assert all(k.startswith(("encoder.encoder.", "decoder.decoder.")) for k in weights.state_dict)
    model = model_from_checkpoint(path, height=32, width=32)
    assert model.widths == WIDTHS
    with torch.no_grad():
        assert torch.equal(model(clip), expected)
    assert "model" not in sys.modules  # nothing imported the original code


def test_original_state_dict_variant_loads_into_the_lightning_module(tmp_path, original_classes):
    path, clip, expected = _write_original(tmp_path, original_classes, statedict=True)
    module = LnraModule(Autoencoder3D(1, WIDTHS, 16, 32, 32))
    assert load_checkpoint(module, path).epoch == 59
    with torch.no_grad():
        assert torch.equal(module.eval()(clip), expected)


def test_malicious_pickle_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pth"
    torch.save({"model": Evil()}, path)
    with pytest.raises(LnraError, match=r"refusing to unpickle .*system"):
        read_weights(path)
    assert not marker.exists()


def test_truncated_and_foreign_files_are_clear_errors(tmp_path, original_classes):
    path, _, _ = _write_original(tmp_path, original_classes)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(LnraError, match="cannot read checkpoint .*cut.pth"):
        read_weights(cut)
    other = tmp_path / "other.pth"
    torch.save({"model_statedict": nn.Linear(4, 2).state_dict()}, other)
    with pytest.raises(LnraError, match="not the paper's 3D autoencoder"):
        model_from_checkpoint(other)
    wrong_widths = LnraModule(Autoencoder3D(1, (8, 8, 16, 32), 16, 32, 32))
    with pytest.raises(LnraError, match="does not fit the model: .*size mismatch"):
        load_checkpoint(wrong_widths, path)
    with pytest.raises(LnraError, match="not found"):
        read_weights(tmp_path / "absent.pth")


@pytest.mark.slow  # a subprocess with Hydra and a test run: ~20 s each
@pytest.mark.parametrize(("given", "precision"), [([], "32-true"),
                                                  (["trainer.precision=bf16-mixed"], "bf16-mixed")])
def test_run_py_tests_an_original_checkpoint(tmp_path, original_classes, given, precision):
    """``python run.py task=test ckpt_path=model.pth`` on a tiny synthetic set, through Hydra: in fp32
    unless the command line sets the precision (whatever the trainer profile's default)."""
    path, _, _ = _write_original(tmp_path, original_classes)
    cmd = [sys.executable, "run.py", "task=test", f"ckpt_path={path}", "debug=fast",
           "callbacks.pictures.timelines=false",
           f"paths.generated_dir={tmp_path}/data", f"paths.cache_dir={tmp_path}/cache",
           f"paths.output_dir={tmp_path}/out", "dataset.height=32", "dataset.width=32",
           "dataset.generate.size=32", "dataset.generate.train_videos=1", "dataset.generate.test_videos=2",
           "dataset.generate.frames_per_video=24", f"model.net.widths=[{','.join(map(str, WIDTHS))}]",
           "trainer.accelerator=cpu", *given]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "AUC:" in done.stdout
    (summary,) = (tmp_path / "out").rglob("summary.md")
    assert f"| Precision | {precision} |" in summary.read_text()


def test_every_epoch_keeps_each_epochs_weights_only(compose_cfg, tmp_path):
    from helpers.paths import TINY_DATASET

    from lnra.callbacks.checkpoints import EpochWeights
    from lnra.run.builders import build_trainer
    from lnra.run.tasks import train

    tiny = [*TINY_DATASET, "model.net.widths=[8,8,8,8]", "trainer.max_epochs=2", "logger=none",
            "+trainer.limit_train_batches=2", "trainer.enable_progress_bar=false",
                "callbacks.pictures.timelines=false"]
    callbacks = build_trainer(compose_cfg(*tiny), tmp_path).callbacks
    assert not any(isinstance(c, EpochWeights) and c.enabled for c in callbacks)
    run_dir = tmp_path / "run"
    train(compose_cfg(*tiny, "callbacks.epoch_weights.enabled=true"), run_dir)
    folder = run_dir / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "epoch_000.ckpt", "epoch_001.ckpt",
                                                         "last.ckpt"]  # and no partial file left
    first, second = (torch.load(folder / f"epoch_00{e}.ckpt", weights_only=True) for e in (0, 1))
    assert "optimizer_states" not in first and "loops" not in first  # weights only
    assert (first["epoch"], second["epoch"]) == (0, 1) and len(second["callbacks"]["History"]["epochs"]) == 2
    weights = [read_weights(folder / name) for name in ("epoch_000.ckpt", "epoch_001.ckpt")]
    assert [w.kind for w in weights] == ["lnra", "lnra"] and len(weights[0].state_dict) == 51
    assert not torch.equal(weights[0].state_dict["decoder.decoder.9.weight"],
                           weights[1].state_dict["decoder.decoder.9.weight"])
