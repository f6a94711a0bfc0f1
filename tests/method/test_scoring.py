"""The evaluation protocol of docs/method.md §6, pinned on hand-made scores."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from lnra.data.labels import TestVideos
from lnra.data.pixels import window_count
from lnra.errors import LnraError
from lnra.method.scoring import centre_index, evaluate, frame_psnr, min_max, scored_labels


def _videos(labels: list[np.ndarray]) -> TestVideos:
    return TestVideos(tuple(f"{v + 1:02d}" for v in range(len(labels))), tuple(labels))


def test_scored_labels_drop_the_first_8_and_last_7_frames():
    labels = np.arange(40)
    kept = scored_labels(labels, 16)
    assert kept[0] == 8 and kept[-1] == 32
    assert len(kept) == window_count(40, 16) == 25


def test_centre_psnr_uses_only_frame_8_in_unit_range():
    clip = torch.zeros(2, 1, 16, 4, 4)
    recon = torch.zeros_like(clip)
    recon[:, :, 0] = 1.0  # errors outside the centre frame do not count
    recon[0, :, 8] = 0.1  # MSE 0.01 -> 20 dB
    recon[1, :, 8] = 1.0  # MSE 1 -> 0 dB
    c = centre_index(16)
    assert torch.allclose(frame_psnr(recon[:, :, c], clip[:, :, c]), torch.tensor([20.0, 0.0]), atol=1e-4)


def test_min_max_per_video_and_constant_video():
    assert np.allclose(min_max(np.array([2.0, 4.0, 3.0])), [0, 1, 0.5])
    assert np.allclose(min_max(np.array([5.0, 5.0])), [0, 0])


def test_evaluate_normalises_per_video_then_pools_all_frames():
    # Two videos of 18 frames -> 3 windows each, scoring frames 8, 9, 10.
    psnr = [np.array([30.0, 20.0, 25.0]), np.array([10.0, 12.0, 11.0])]
    labels = [np.zeros(18, int), np.zeros(18, int)]
    labels[0][9] = 1  # the 20 dB window of video 0 is anomalous
    labels[1][8] = 1  # the 10 dB window of video 1 is anomalous
    result = evaluate(psnr, _videos(labels), 16)
    expected_scores = np.concatenate([1 - np.array([1.0, 0.0, 0.5]), 1 - np.array([0.0, 1.0, 0.5])])
    assert np.allclose(result.anomaly_score, expected_scores)
    assert result.labels.tolist() == [0, 1, 0, 1, 0, 0]
    assert result.auc_micro == pytest.approx(roc_auc_score(result.labels, expected_scores)) == 1.0
    # Without per-video normalisation video 1's low PSNRs all look anomalous.
    raw = roc_auc_score([0, 1, 0, 1, 0, 0], [-30, -20, -25, -10, -12, -11])
    assert result.auc_micro_global == pytest.approx(raw)
    assert result.auc_macro == pytest.approx(1.0)
    assert result.frame_index.tolist() == [8, 9, 10, 8, 9, 10]
    assert result.n_frames == 6
    assert result.videos.names == ("01", "02") and result.videos.labels[1][8] == 1  # what reporting needs


def test_macro_auc_skips_single_class_videos():
    psnr = [np.array([30.0, 20.0, 25.0]), np.array([10.0, 12.0, 11.0])]
    labels = [np.zeros(18, int), np.zeros(18, int)]
    labels[0][10] = 1  # ranks 0.5 in the middle: AUC 0.5 for video 0
    result = evaluate(psnr, _videos(labels), 16)
    assert result.auc_macro == pytest.approx(0.5)


def test_window_count_mismatch_is_an_error():
    with pytest.raises(LnraError, match="3 window scores but 4 scored labels"):
        evaluate([np.ones(3)], _videos([np.r_[np.zeros(18), 1]]), 16)


def test_single_class_labels_make_the_auc_undefined():
    with pytest.raises(LnraError, match="AUC is undefined"):
        evaluate([np.array([1.0, 2.0, 3.0])], _videos([np.zeros(18, int)]), 16)


def test_micro_and_macro_auc_differ_on_a_hand_computed_fixture():
    # Two videos of 20 frames: 5 windows each, scoring frames 8..12.
    psnr = [np.array([30.0, 10.0, 20.0, 25.0, 15.0]), np.array([40.0, 30.0, 35.0, 20.0, 50.0])]
    labels = [np.zeros(20, int), np.zeros(20, int)]
    labels[0][[9, 12]] = 1  # anomaly scores 1 and 0.75 against 0, 0.5, 0.25: video AUC 1
    labels[1][[8, 12]] = 1  # anomaly scores 1/3 and 0 against 2/3, 1/2, 1: video AUC 0
    result = evaluate(psnr, _videos(labels), 16)
    assert result.auc_macro == pytest.approx(0.5)  # the mean of 1 and 0
    # pooled: 4 positives x 6 negatives = 24 pairs; 13 won (ties count one half)
    assert result.auc_micro == pytest.approx(13 / 24)
    np.testing.assert_allclose(result.anomaly_score, [0, 1, 0.5, 0.25, 0.75, 1 / 3, 2 / 3, 0.5, 1, 0])
