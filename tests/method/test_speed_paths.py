"""The fast paths of issues 7 and 10: precision resolution, channels-last 3D, fp32 loss under autocast,
the GPU trainer's loader settings, and a real bf16 training step on the CPU."""

from __future__ import annotations

import logging

import pytest
import pytorch_lightning as pl
import torch
from helpers.paths import TINY_DATASET

from lnra.method.losses import per_sample_mse
from lnra.method.model import Autoencoder3D
from lnra.method.module import LnraModule
from lnra.method.scoring import frame_psnr
from lnra.run import trainer as builders
from lnra.run.builders import build_datamodule, build_module, build_trainer
from lnra.run.trainer import resolve_precision


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("accelerator", ["cpu", "auto"])
def test_auto_precision_is_bf16_on_a_bf16_cpu(monkeypatch, no_cuda, accelerator, caplog) -> None:
    monkeypatch.setattr(builders, "cpu_supports_bf16", lambda: True)
    with caplog.at_level(logging.INFO, logger="lnra.run.trainer"):
        assert resolve_precision("auto", accelerator) == "bf16-mixed"
    assert not caplog.records


def test_auto_precision_falls_back_to_fp32_with_one_log_line(monkeypatch, no_cuda, caplog) -> None:
    monkeypatch.setattr(builders, "cpu_supports_bf16", lambda: False)
    with caplog.at_level(logging.INFO, logger="lnra.run.trainer"):
        assert resolve_precision("auto", "cpu") == "32-true"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "fp32" in lines[0]


def test_explicit_precision_is_kept(monkeypatch, no_cuda) -> None:
    monkeypatch.setattr(builders, "cpu_supports_bf16", lambda: True)
    assert resolve_precision("32-true", "cpu") == "32-true"
    assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"


def test_bf16_detection_asks_onednn(monkeypatch) -> None:
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert builders.cpu_supports_bf16() is False
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert builders.cpu_supports_bf16() is True


@pytest.mark.parametrize(("bf16", "expected"), [(True, "bf16-mixed"), (False, "32-true")])
def test_cpu_trainer_gets_the_resolved_precision(compose_cfg, tmp_path, monkeypatch, no_cuda, bf16, expected):
    monkeypatch.setattr(builders, "cpu_supports_bf16", lambda: bf16)
    cfg = compose_cfg("trainer=cpu", "~logger", *TINY_DATASET)
    assert build_module(cfg, build_datamodule(cfg)).channels_last is True
    assert build_trainer(cfg, tmp_path).precision == expected


def test_fp32_is_one_switch_away(compose_cfg, tmp_path, monkeypatch, no_cuda) -> None:
    monkeypatch.setattr(builders, "cpu_supports_bf16", lambda: True)
    cfg = compose_cfg("trainer=cpu", "~logger", "trainer.precision=32-true", "model.channels_last=false",
                      *TINY_DATASET)
    assert build_trainer(cfg, tmp_path).precision == "32-true"
    assert build_module(cfg, build_datamodule(cfg)).channels_last is False


def test_gpu_trainer_composes_the_gpu_loading_settings(compose_cfg) -> None:
    cfg = compose_cfg("trainer=gpu", "dataset=ped2")
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"
    assert cfg.trainer.benchmark is True
    on_gpu = build_datamodule(compose_cfg("dataset=ped2", "dataset.cache_on_device=false"))
    assert on_gpu.cache_on_device is False  # false wins over the GPU
    on_gpu.follow_device(torch.device("cuda"))  # the data follows the device the trainer runs on
    assert on_gpu.pin_memory is True and on_gpu.num_workers >= 4
    assert build_datamodule(compose_cfg("trainer=gpu", "dataset=ped2")).cache_on_device == "auto"
    explicit = build_datamodule(compose_cfg("trainer=gpu", "dataset=ped2", "dataset.num_workers=3",
                                            "dataset.cache_on_device=false"))
    explicit.follow_device(torch.device("cuda"))
    assert explicit.num_workers == 3


def test_cache_on_device_auto_stays_on_the_host_without_gpu(compose_cfg, no_cuda) -> None:
    auto = build_datamodule(compose_cfg(*TINY_DATASET, "dataset.cache_on_device=auto"))
    auto.setup("fit")  # no trainer: the CPU
    assert auto.cache_on_device is False
    forced = build_datamodule(compose_cfg(*TINY_DATASET, "dataset.cache_on_device=true"))
    forced.setup("fit")
    assert forced.cache_on_device is True


def test_channels_last_is_applied_to_model_and_inputs() -> None:
    # two channels: with one, a contiguous clip is already channels-last in PyTorch's eyes
    module = LnraModule(Autoencoder3D(in_channels=2, height=16, width=16), channels_last=True)
    module.setup("fit")
    first_conv = module.model.encoder.encoder[0]
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    seen = []
    first_conv.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    clips = torch.rand(2, 2, 16, 16, 16)
    assert not clips.is_contiguous(memory_format=torch.channels_last_3d)
    module(clips)
    assert seen[0].is_contiguous(memory_format=torch.channels_last_3d)


def test_channels_last_off_leaves_the_layout_alone() -> None:
    module = LnraModule(Autoencoder3D(in_channels=2, height=16, width=16), channels_last=False)
    module.setup("fit")
    assert not module.model.encoder.encoder[0].weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_loss_and_psnr_are_fp32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    model = Autoencoder3D(height=16, width=16)
    clips = torch.rand(2, 1, 16, 16, 16) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        recon = model(clips)
        loss = per_sample_mse(recon, clips)
        psnr = frame_psnr(recon[:, :, 8], clips[:, :, 8])
    assert recon.dtype == torch.bfloat16
    assert loss.dtype == torch.float32 and psnr.dtype == torch.float32
    expected = (recon.float() - clips).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(loss, expected, rtol=0, atol=0)


def test_a_bf16_channels_last_training_step_runs(compose_cfg, tmp_path, no_cuda) -> None:
    cfg = compose_cfg("trainer=cpu", "~logger", "pseudo=skip_frame", "trainer.precision=bf16-mixed",
                      "model.channels_last=true", *TINY_DATASET)
    pl.seed_everything(0, verbose=False)
    datamodule = build_datamodule(cfg)
    datamodule.check_test_split()
    module = build_module(cfg, datamodule)
    before = [p.detach().clone() for p in module.model.parameters()]
    trainer = build_trainer(cfg, tmp_path, datamodule, max_epochs=1, limit_train_batches=2,
                            limit_val_batches=0,
                            enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=datamodule)
    assert trainer.precision == "bf16-mixed" and trainer.global_step == 2
    loss = trainer.callback_metrics["train/loss"]
    assert torch.isfinite(loss) and loss.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in module.model.parameters())  # bf16 only inside autocast
    assert any(not torch.equal(a, b) for a, b in zip(before, module.model.parameters(), strict=True))
    trainer.test(module, datamodule=datamodule, verbose=False)
    assert 0.0 <= module.evaluation.auc_micro <= 1.0
