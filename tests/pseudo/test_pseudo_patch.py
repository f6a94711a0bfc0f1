"""The patch mixer: validation, the paste ``x' = m·patch + (1-m)·x``, and video intruders frame by frame."""

from __future__ import annotations

import math

import pytest
import torch

from lnra.errors import LnraError
from lnra.pseudo.patch import RULES, PatchMixer
from lnra.pseudo.sources import IntruderSource, TextureSource


def white(height: int = 32, width: int = 48, frames: int = 1) -> IntruderSource:
    """A source of one all-white intruder: after the paste on a black clip, the pixel value gives m."""
    pool = torch.full((1, frames, 8, 8), 255, dtype=torch.uint8)
    return IntruderSource(1, frames, height, width, "white", pool)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"p": 1.5}, r"^p=1.5: must be a number in \[0, 1\]$"),
    ({"p": -0.1}, r"^p=-0.1: must be a number in \[0, 1\]$"),
    ({"max_size": 0.0}, r"^max_size=0.0: must be a number in \(0, 1\]$"),
    ({"max_size": 1.2}, r"^max_size=1.2: must be a number in \(0, 1\]$"),
    ({"max_move": -1}, r"^max_move=-1: must be an integer >= 0$"),
    ({"max_move": 2.5}, r"^max_move=2.5: must be an integer >= 0$"),
    ({"technique": "mixup"},
     r"^technique=mixup: must be one of smoothmix_s \| smoothmix_c \| cutmix \| mixup_patch$"),
])
def test_bad_settings_are_refused_in_one_line(kwargs, message):
    settings = {"technique": "smoothmix_s", "p": 0.2, "max_size": 0.5, "max_move": 10, **kwargs}
    with pytest.raises(LnraError, match=message):
        PatchMixer(source=white(), **settings)


@pytest.mark.parametrize("technique", list(RULES))
def test_paste_blends_patch_and_frame_by_the_mask(technique):
    torch.manual_seed(0)
    clips = torch.full((3, 1, 16, 32, 48), -1.0)
    out = PatchMixer(technique, white(), p=1.0, max_size=0.5, max_move=3)(clips)
    m = (out + 1) / 2  # black frame, white patch: x' = m·1 + (1-m)·(-1)
    assert out.shape == clips.shape and clips.eq(-1).all()  # the clean clip (the target) is untouched
    assert m.min() >= 0 and m.max() <= 1 + 1e-6
    peak = 0.5 if technique == "mixup_patch" else 1.0
    # SmoothMixC's centre may be drawn at x = W or y = H, a pixel past the frame (σ >= 10 px)
    slack = 1 - math.exp(-1 / 200) ** 2 if technique == "smoothmix_c" else 0.0
    highest = m.amax(dim=(1, 3, 4))
    assert (highest <= peak + 1e-4).all() and (highest >= peak - slack - 1e-4).all()
    assert (m[:, :, 0] != m[:, :, -1]).any()  # the window moved


def test_image_patch_without_movement_is_the_same_in_every_frame():
    torch.manual_seed(0)
    clips = torch.rand(4, 1, 1, 32, 48).expand(4, 1, 16, 32, 48) * 2 - 1
    out = PatchMixer("smoothmix_s", TextureSource(32, 48, count=5), p=1.0, max_size=0.5, max_move=0)(clips)
    assert torch.equal(out, out[:, :, :1].expand_as(out)) and not torch.equal(out, clips)


def test_video_intruder_frame_t_comes_from_frame_t_of_the_intruder_clip():
    frames = torch.arange(16, dtype=torch.uint8).mul(10).view(1, 16, 1, 1).expand(1, 16, 8, 8).contiguous()
    source = IntruderSource(*frames.shape[:2], 32, 32, "ramp clip", frames)
    torch.manual_seed(0)
    clips = torch.full((2, 1, 16, 32, 32), -1.0)
    out = PatchMixer("cutmix", source, p=1.0, max_size=0.5, max_move=0)(clips)
    inside = out != -1
    for t in range(1, 16):
        assert torch.allclose(out[:, :, t][inside[:, :, t]], torch.tensor(10 * t / 127.5 - 1))


def test_clip_size_or_length_that_does_not_match_the_intruders_is_refused():
    mixer = PatchMixer("cutmix", white(32, 32, frames=16), p=1.0)
    with pytest.raises(LnraError, match="prepared for 32x32 frames but the clips are 16x16"):
        mixer(torch.zeros(1, 1, 16, 16, 16))
    with pytest.raises(LnraError, match="intruder clips have 16 frames but the clips have 8"):
        mixer(torch.zeros(1, 1, 8, 32, 32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_patching_runs_on_the_batch_device():
    clips = torch.zeros(2, 1, 16, 32, 48, device="cuda")
    out = PatchMixer("smoothmix_s", white(), p=1.0)(clips)
    assert out.device == clips.device
