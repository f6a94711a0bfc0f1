"""Issue 28: evaluation decodes only the centre frame it scores. The cropped decode equals the full one to
float rounding for every layout the model accepts, falls back to the full decode where it would not be
exact, costs 0.74 of the full forward's multiply-accumulates and scores real Ped2 with the same AUC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lnra.data.frames import list_videos, load_frame_store
from lnra.data.labels import TestVideos, find_label_file, load_labels
from lnra.data.pixels import to_unit_range
from lnra.method.model import Autoencoder3D, centre_reconstruction, decode_frame, eval_macs, plan_frame
from lnra.method.scoring import evaluate, frame_psnr

PAPER_WIDTHS = (96, 128, 256, 256)


def eval_net(widths: tuple[int, ...], frames: int, height: int, width: int, seed: int = 0) -> Autoencoder3D:
    """A seeded random autoencoder in eval mode whose BatchNorms hold non-trivial running statistics and
    affine parameters, so that a crop that mishandled them could not pass unnoticed."""
    torch.manual_seed(seed)
    net = Autoencoder3D(1, widths, frames, height, width)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
    return net.eval()


def clips_for(net: Autoencoder3D, batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, 1, *net.clip_shape) * 2 - 1


def last_conv_calls(net: Autoencoder3D) -> list[int]:
    """A counter of the last transposed convolution's module calls: the full decode calls it, the crop
    computes it functionally over a few frames."""
    calls: list[int] = []
    net.decoder.decoder[-2].register_forward_hook(lambda *_: calls.append(1))
    return calls


# Every clip length up to 32 with narrow and uneven widths at two frame sizes, and the paper's widths.
LAYOUTS = [
    *((widths, frames, size) for widths in [(8, 8, 16, 16), (5, 12, 7, 20)] for frames in (8, 16, 24, 32)
      for size in [(16, 16), (32, 48)]),
    *((PAPER_WIDTHS, frames, (16, 16)) for frames in (8, 16, 24, 32)),
]


@pytest.mark.parametrize(("widths", "frames", "size"), LAYOUTS)
def test_centre_frame_equals_the_full_decode(widths, frames, size) -> None:
    net = eval_net(widths, frames, *size, seed=frames)
    calls = last_conv_calls(net)
    clips = clips_for(net)
    with torch.inference_mode():
        full = net(clips)[:, :, frames // 2]
        del calls[:]
        crop = net.reconstruct_centre(clips)
    assert not calls  # the crop ran, not a full decode
    assert crop.shape == (2, 1, *size)
    assert (crop - full).abs().max().item() <= 1e-6


def test_channels_last_3d_is_exact() -> None:
    net = eval_net((5, 12, 7, 20), 16, 32, 32).to(memory_format=torch.channels_last_3d)
    clips = clips_for(net).contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode():
        assert (net.reconstruct_centre(clips) - net(clips)[:, :, 8]).abs().max().item() <= 1e-6


def test_bf16_autocast_gives_the_full_decodes_dtype_and_frame() -> None:
    net = eval_net((8, 8, 16, 16), 16, 32, 32)
    clips = clips_for(net)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        full, crop = net(clips)[:, :, 8], net.reconstruct_centre(clips)
    assert crop.dtype == full.dtype == torch.bfloat16
    torch.testing.assert_close(crop.float(), full.float(), rtol=0, atol=2e-2)  # bf16: 8 mantissa bits


def test_a_compiled_net_is_cropped_through_its_original_module() -> None:
    net = eval_net((8, 8, 16, 16), 16, 16, 16)
    clips = clips_for(net)
    compiled = torch.compile(net)  # compiled lazily, on its first call, which the crop never makes
    with torch.inference_mode():
        torch.testing.assert_close(centre_reconstruction(compiled, clips), net(clips)[:, :, 8],
                                   rtol=0, atol=1e-6)


def test_a_net_without_the_method_gives_its_full_centre_frame() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv3d(1, 1, 3, padding=1), nn.Tanh()).eval()
    clips = torch.rand(3, 1, 16, 8, 8)
    torch.testing.assert_close(centre_reconstruction(net, clips), net(clips)[:, :, 8], rtol=0, atol=0)


def test_train_mode_decodes_in_full() -> None:
    """BatchNorm's batch statistics depend on every frame: a crop would change the frame."""
    net = eval_net((8, 8, 16, 16), 16, 16, 16).train()
    clips = clips_for(net)
    with torch.no_grad():
        full = net(clips)[:, :, 8]
        calls = last_conv_calls(net)
        centre = centre_reconstruction(net, clips)
    assert calls == [1]
    torch.testing.assert_close(centre, full, rtol=0, atol=0)


@pytest.mark.parametrize("layers", [
    [nn.ConvTranspose3d(2, 2, 3, 2, 1, output_padding=1), nn.Dropout3d(0.0)],  # not known to be frame-wise
    [nn.ConvTranspose3d(2, 2, 1, 2, 0, output_padding=1)],  # odd output frames get the bias alone
])
def test_layers_a_crop_cannot_reproduce_decode_in_full(layers) -> None:
    torch.manual_seed(0)
    z = torch.rand(1, 2, 3, 4, 4)
    assert plan_frame(layers, in_frames=3, frame=3) is None
    full = nn.Sequential(*layers).eval()(z)
    torch.testing.assert_close(decode_frame(layers, z, 3), full[:, :, 3], rtol=0, atol=0)


@pytest.mark.parametrize(("size", "full_gmac"), [(256, 32.161923072), (64, 2.010120192)])
def test_the_crop_costs_074_of_the_full_evaluation(size, full_gmac) -> None:
    """Counted on the meta device (shapes only): the paper's net on one 16×size×size clip. At 256×256 the
    full forward is 64.3 GFLOP (issue 7); the crop keeps the encoder and 7.8 of the decoder's 16.1 GMAC."""
    with torch.device("meta"):
        net = Autoencoder3D(1, PAPER_WIDTHS, 16, size, size).eval()
        clip = torch.empty(1, 1, 16, size, size)
    full, crop = eval_macs(net, clip, centre_only=False), eval_macs(net, clip, centre_only=True)
    assert full == round(full_gmac * 1e9)
    assert crop / full == pytest.approx(0.7434, abs=1e-4)


def test_real_ped2_scores_the_same_auc_with_the_crop(shared_data: Path, tmp_path: Path) -> None:
    """Every Ped2 test window (1,830) at 64×64 through a seeded narrow net: the frame-level AUC of the
    cropped decode equals the full decode's to 4 decimals."""
    root = shared_data / "ped2"
    store = load_frame_store(list_videos(root / "testing" / "frames"), tmp_path / "cache", "ped2", "testing",
                             64, 64)
    labels = load_labels(find_label_file("ped2", root, None), store.lengths)
    videos = TestVideos(tuple(store.names), tuple(labels))
    net = eval_net((8, 8, 16, 16), 16, 64, 64)
    full, crop = [], []
    with torch.inference_mode():
        for v in range(len(store.names)):
            frames = to_unit_range(torch.from_numpy(store.video(v)))
            windows = frames.unfold(0, 16, 1).permute(0, 3, 1, 2).unsqueeze(1)  # (n-15, 1, 16, 64, 64)
            full.append(torch.cat([frame_psnr(net(b)[:, :, 8], b[:, :, 8])
                                   for b in windows.split(64)]).numpy())
            crop.append(torch.cat([frame_psnr(centre_reconstruction(net, b), b[:, :, 8])
                                   for b in windows.split(64)]).numpy())
    assert sum(len(p) for p in crop) == 1830
    np.testing.assert_allclose(np.concatenate(crop), np.concatenate(full), rtol=0, atol=1e-4)
    by_full, by_crop = evaluate(full, videos, 16), evaluate(crop, videos, 16)
    assert round(by_crop.auc_micro, 4) == round(by_full.auc_micro, 4)
    print(f"Ped2 64x64 frame-level AUC: full {by_full.auc_micro:.6f}, crop {by_crop.auc_micro:.6f}")


@pytest.mark.slow
def test_a_compiled_module_trains_and_scores_like_the_plain_one() -> None:
    """``model.compile`` compiles both the training forward and the cropped evaluation decode; each gives
    the plain net's values to float rounding."""
    from lnra.method.module import LnraModule

    net = eval_net((8, 8, 16, 16), 16, 16, 16)
    clips = clips_for(net)
    plain, compiled = LnraModule(net, channels_last=False), LnraModule(net, channels_last=False, compile=True)
    assert compiled.model is not net and hasattr(compiled.centre, "__wrapped__")
    assert plain.model is net and not hasattr(plain.centre, "__wrapped__")
    with torch.no_grad():
        torch.testing.assert_close(compiled.centre(clips), plain.centre(clips), rtol=0, atol=1e-5)
        net.train()
        torch.testing.assert_close(compiled(clips), plain(clips), rtol=0, atol=1e-5)
