"""Patch masks against the formulas of docs/method.md §4, on chosen centres and sizes."""

from __future__ import annotations

import math

import pytest
import torch

from lnra.pseudo.patch import RULES, Windows, build_masks, clipped_walk, sample_windows

H, W = 40, 64


def one_window(cx: int, cy: int, w: int, h: int) -> Windows:
    return Windows(torch.tensor([[cx]]), torch.tensor([[cy]]), torch.tensor([w]), torch.tensor([h]))


def mask_of(technique: str, cx: int, cy: int, w: int, h: int) -> torch.Tensor:
    return build_masks(technique, one_window(cx, cy, w, h), H, W)[0, 0]


def spec_value(technique: str, x: int, y: int, cx: int, cy: int, w: int, h: int) -> float:
    """docs/method.md §4 written out per pixel, independently of the implementation."""
    if technique == "smoothmix_c":
        return math.exp(-((x - cx) ** 2) / (2 * w**2)) * math.exp(-((y - cy) ** 2) / (2 * h**2))

    def axis(p: int, c: int, size: int, length: int) -> float:
        lo = min(max(c - size // 2, 0), length)
        if technique == "smoothmix_s":
            hi = min(max(c + size // 2, 0), length)
            r = 0.1 * (size // 2)
            value = (p - (lo - r)) / r if p < c else ((hi + r) - p) / r
            return min(max(value, 0.0), 1.0)
        hi = min(max(lo + size, 0), length)
        return 1.0 if lo <= p < hi else 0.0

    gain = 0.5 if technique == "mixup_patch" else 1.0
    return gain * axis(x, cx, w, W) * axis(y, cy, h, H)


@pytest.mark.parametrize("technique", list(RULES))
@pytest.mark.parametrize("window", [(30, 20, 40, 20), (3, 2, 40, 30), (63, 39, 50, 12), (64, 40, 10, 10),
                                    (0, 0, 64, 40), (17, 31, 11, 25)])
def test_every_pixel_follows_the_spec(technique, window):
    mask = mask_of(technique, *window)
    expected = torch.tensor([[spec_value(technique, x, y, *window) for x in range(W)] for y in range(H)])
    assert torch.allclose(mask, expected, atol=1e-6)


def test_smoothmix_s_box_and_linear_ramps():
    # cx 30, w 40: x1 = 10, x2 = 50, r = (40//2)·0.1 = 2 px; cy 20, h 20: y1 = 10, y2 = 30, r = 1 px.
    m = mask_of("smoothmix_s", 30, 20, 40, 20)
    assert m[10:31, 10:51].eq(1).all()  # both edge columns x1 = 10 and x2 = 50 are inside
    assert m[20, 9] == pytest.approx(0.5) and m[20, 51] == pytest.approx(0.5)
    assert m[20, 8] == 0 and m[20, 52] == 0
    assert m[9, 30] == 0 and m[31, 30] == 0  # 1-px ramp: the next pixel is already at 0
    assert m[:, :9].eq(0).all() and m[:, 52:].eq(0).all() and m[:10].eq(0).all() and m[31:].eq(0).all()


def test_smoothmix_s_edge_values_inside_and_at_the_border():
    # r = 0.1·(25//2) = 1.2: an odd size, a ramp that is not a whole number of pixels
    m = mask_of("smoothmix_s", 30, 20, 25, 25)
    x1, x2, r = 30 - 12, 30 + 12, 1.2
    row = m[20]
    assert row[x1] == 1 and row[x2] == 1 and row[x1 + 1 : x2].eq(1).all()
    assert row[x2 + 1] == pytest.approx((x2 + r - (x2 + 1)) / r, abs=1e-5)  # 1/6: the fall starts after x2
    assert row[x1 - 1] == pytest.approx((x1 - 1 - (x1 - r)) / r, abs=1e-5)  # 1/6
    assert row[x2 + 2] == 0 and row[x1 - 2] == 0
    # at the border: x1 = clip(3 - 12) = 0 and x2 = clip(62 + 12) = 64, so the ramps lie off the frame
    left, right = mask_of("smoothmix_s", 3, 20, 25, 25)[20], mask_of("smoothmix_s", 62, 20, 25, 25)[20]
    assert left[: 3 + 12 + 1].eq(1).all() and left[3 + 13] == pytest.approx(0.2 / 1.2, abs=1e-5)
    assert right[62 - 12 :].eq(1).all() and right[62 - 13] == pytest.approx(0.2 / 1.2, abs=1e-5)
    # a centre on the far edge (a moved window may reach cx = W): every column is left of the centre
    edge = mask_of("smoothmix_s", 64, 20, 25, 25)[20]
    assert edge[64 - 12 :].eq(1).all() and edge[64 - 13] == pytest.approx(0.2 / 1.2, abs=1e-5)


def test_box_is_clipped_at_the_border_and_cutmix_keeps_its_size():
    smooth = mask_of("smoothmix_s", 3, 20, 40, 20)  # x from 3-20 → 0 to 3+20 = 23, both included
    cut = mask_of("cutmix", 3, 20, 40, 20)  # x from clip(-17) = 0 to 0 + 40
    assert smooth[20, :24].eq(1).all() and smooth[20, 24] < 1
    assert cut[20, :40].eq(1).all() and cut[20, 40:].eq(0).all()
    right = mask_of("cutmix", 60, 20, 40, 20)  # x from 40 to clip(80) = 64
    assert right[20, 40:].eq(1).all() and right[20, :40].eq(0).all()


def test_mixup_patch_is_half_inside_the_cutmix_box():
    mix, cut = mask_of("mixup_patch", 30, 20, 40, 20), mask_of("cutmix", 30, 20, 40, 20)
    assert torch.equal(mix, 0.5 * cut) and set(mix.unique().tolist()) == {0.0, 0.5}


def test_smoothmix_c_is_a_gaussian_with_sigma_the_window_size():
    m = mask_of("smoothmix_c", 30, 20, 12, 8)
    assert m[20, 30] == pytest.approx(1.0)
    assert m[20, 42] == pytest.approx(math.exp(-0.5))  # one σx = 12 to the right
    assert m[12, 30] == pytest.approx(math.exp(-0.5))  # one σy = 8 up
    assert m[0, 0] == pytest.approx(math.exp(-(30**2) / 288) * math.exp(-(20**2) / 128))


def test_sizes_have_a_10_pixel_minimum_and_stay_below_alpha_times_the_frame():
    torch.manual_seed(0)
    tiny = sample_windows("smoothmix_s", 500, 16, 256, 256, max_size=0.02, max_move=0)
    assert tiny.width.eq(10).all() and tiny.height.eq(10).all()
    half = sample_windows("cutmix", 4000, 16, 128, 256, max_size=0.5, max_move=0)
    assert half.width.min() == 10 and half.width.max() < 128 and half.width.max() > 110
    assert half.height.min() == 10 and half.height.max() < 64


def test_centres_are_uniform_over_the_frame_and_smoothmix_c_includes_the_far_edge():
    torch.manual_seed(0)
    box = sample_windows("smoothmix_s", 20000, 16, 8, 12, 0.5, 0)
    assert set(box.cx.flatten().tolist()) == set(range(12))
    assert set(box.cy.flatten().tolist()) == set(range(8))
    gauss = sample_windows("smoothmix_c", 20000, 16, 8, 12, 0.5, 0)
    assert set(gauss.cx.flatten().tolist()) == set(range(13))
    assert set(gauss.cy.flatten().tolist()) == set(range(9))


def test_moving_window_steps_at_most_beta_and_stays_in_the_frame():
    torch.manual_seed(0)
    beta = 7
    win = sample_windows("smoothmix_s", 3000, 16, 40, 64, 0.5, beta)
    assert win.cx.shape == (3000, 16)
    for c, upper in ((win.cx, W), (win.cy, H)):
        steps = c.diff(dim=1)
        assert steps.abs().max() == beta and c.min() == 0 and c.max() == upper
        assert (c >= 0).all() and (c <= upper).all()
    some = Windows(win.cx[:6], win.cy[:6], win.width[:6], win.height[:6])
    masks = build_masks("smoothmix_s", some, H, W)
    assert masks.shape == (6, 16, H, W)
    # each frame's mask is the one built at that frame's centre
    for b, t in ((0, 0), (3, 9), (5, 15)):
        single = one_window(int(win.cx[b, t]), int(win.cy[b, t]), int(win.width[b]), int(win.height[b]))
        assert torch.equal(masks[b, t], build_masks("smoothmix_s", single, H, W)[0, 0])


def test_clipped_walk_equals_clipping_after_every_step():
    torch.manual_seed(1)
    for upper, beta in ((5, 4), (64, 10), (30, 30)):
        start = torch.randint(0, upper + 1, (200,))
        steps = torch.randint(-beta, beta + 1, (200, 15))
        expected = [start]
        for t in range(15):
            expected.append((expected[-1] + steps[:, t]).clamp(0, upper))
        assert torch.equal(clipped_walk(start, steps, upper), torch.stack(expected, 1))


def test_clipped_walk_comes_back_from_the_border_at_once():
    # clipped after every step, not the clipped sum: 2 → 0 (clipped from -3) → 4 → 0 → 3
    walk = clipped_walk(torch.tensor([2]), torch.tensor([[-5, 4, -9, 3]]), 10)
    assert walk.tolist() == [[2, 0, 4, 0, 3]]


def test_without_movement_one_mask_serves_every_frame():
    torch.manual_seed(0)
    win = sample_windows("smoothmix_s", 6, 16, H, W, 0.5, 0)
    assert win.cx.shape == (6, 1)
    assert build_masks("smoothmix_s", win, H, W).shape == (6, 1, H, W)


def test_unknown_technique_is_refused():
    from lnra.errors import LnraError

    with pytest.raises(LnraError, match="unknown patching technique 'smoothmix'"):
        sample_windows("smoothmix", 1, 16, H, W, 0.5, 0)
