# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Metric functions on tiny hand-made arrays whose answers are worked out by hand."""

import math

import numpy as np
import pytest
from sorghum_depth_training.evaluation.metrics import (
    best_constant_disparity, depth_errors, disparity_errors, evaluate_disparity, mean_metrics,
    median_scale, valid_gt_mask)

# err = [0.5, 2.5, 4, 0, 4, 3], rel = [0.05, 0.125, 0.1, 0, 0.04, 0.05]
GT = np.array([10.0, 20.0, 40.0, 50.0, 100.0, 60.0])
PRED = np.array([10.5, 22.5, 36.0, 50.0, 104.0, 63.0])


def test_disparity_errors_known_values():
    m = disparity_errors(PRED, GT)
    assert m['mae_px'] == pytest.approx(14.0 / 6)
    assert m['mae_pct'] == pytest.approx(100 * 0.365 / 6)
    # bad_k is strict (>): err 3 is not bad_3; 2.5, 4, 4, 3 are > 1 and > 2
    assert m['bad_1'] == pytest.approx(100 * 4 / 6)
    assert m['bad_2'] == pytest.approx(100 * 4 / 6)
    assert m['bad_3'] == pytest.approx(100 * 2 / 6)
    # d1 needs BOTH err >= 3 px and rel >= 5 %: (4, 10 %) and (3, 5 %) yes; (4, 4 %) no
    assert m['d1'] == pytest.approx(100 * 2 / 6)


def test_depth_errors_known_values():
    # fx * B = 50: GT depth [5, 1] m, predicted [10, 1] m
    m = depth_errors(np.array([5.0, 50.0]), np.array([10.0, 50.0]), 100.0, 0.5)
    assert m['abs_rel'] == pytest.approx(0.5)
    assert m['sq_rel'] == pytest.approx(2.5)
    assert m['rmse'] == pytest.approx(math.sqrt(12.5))
    assert m['rmse_log'] == pytest.approx(math.log(2) / math.sqrt(2))
    assert m['delta1'] == pytest.approx(50.0)


def test_prediction_capped_to_80_m():
    # GT 40 m; the prediction 100 m is capped to 80 m: abs_rel (80 - 40) / 40 = 1
    m = depth_errors(np.array([0.5]), np.array([1.25]), 100.0, 0.5)
    assert m['abs_rel'] == pytest.approx(1.0) and m['rmse'] == pytest.approx(40.0)


def test_gt_outside_the_depth_range_is_excluded_not_clamped():
    # fx * B = 50: GT depths 500 m (beyond 80 m), 10 m, 1e-4 m (below 1e-3 m).
    # Clamping would score the 500 m pixel as 80 m against a 100 m prediction (80 after
    # its cap): a perfect pixel that pulls abs_rel down. KITTI drops it instead.
    gt = np.array([0.1, 5.0, 5e5])
    pred = np.array([0.5, 10.0, 5e5])      # 100 m, 5 m, 1e-4 m
    m = depth_errors(pred, gt, 100.0, 0.5)
    assert m['abs_rel'] == pytest.approx(0.5)      # only the 10 m pixel: |5 - 10| / 10
    assert m['rmse'] == pytest.approx(5.0) and m['delta1'] == 0.0
    m = depth_errors(np.array([0.5]), np.array([0.1]), 100.0, 0.5)
    assert math.isnan(m['abs_rel']) and math.isnan(m['delta1'])


def test_median_alignment_undoes_global_scale():
    rng = np.random.default_rng(0)
    gt = rng.uniform(2.0, 60.0, size=(24, 32))
    pred = 2.5 * gt
    metric = evaluate_disparity(pred, gt, alignment='metric')
    median = evaluate_disparity(pred, gt, alignment='median')
    assert metric['alignment'] == 'metric' and metric['scale'] == 1.0
    assert metric['mae_pct'] == pytest.approx(150.0)
    assert median['alignment'] == 'median'
    assert median['scale'] == pytest.approx(0.4, rel=1e-12)
    assert median['mae_px'] == pytest.approx(0.0, abs=1e-12)
    assert median['bad_1'] == 0.0 and median['d1'] == 0.0
    assert median_scale(np.array([2.0, 4.0, 100.0]), np.array([1.0, 3.0, 4.0])) == 0.75


def test_invalid_and_masked_pixels_excluded():
    gt = np.array([[10.0, 0.0, np.nan], [np.inf, 20.0, 30.0]])
    mask = np.array([[True, True, True], [True, True, False]])
    pred = np.array([[11.0, 999.0, 999.0], [999.0, np.nan, 999.0]])
    assert valid_gt_mask(gt, mask).tolist() == [[True, False, False], [False, True, False]]
    m = evaluate_disparity(pred, gt, mask)
    # GT-valid: (0, 0) and (1, 1); the prediction has a hole at (1, 1)
    assert m['n_valid'] == 1
    assert m['density'] == pytest.approx(50.0)
    assert m['mae_px'] == pytest.approx(1.0)
    assert m['bad_1'] == 0.0


def test_negative_prediction_is_a_hole_but_zero_is_an_answer():
    gt = np.full((2, 2), 8.0)
    pred = np.array([[8.0, 0.0], [-1.0, np.inf]])
    m = evaluate_disparity(pred, gt, fx_px=10.0, baseline_m=1.0)
    # (0, 0) exact, (0, 1) says "infinitely far": 8 px off; depth 1.25 m vs 80 m cap
    assert m['density'] == pytest.approx(50.0) and m['mae_px'] == pytest.approx(4.0)
    assert m['rmse'] == pytest.approx(math.sqrt((80 - 1.25) ** 2 / 2))


def test_depth_metrics_only_with_calibration():
    gt = np.full((2, 2), 10.0)
    assert 'abs_rel' not in evaluate_disparity(gt, gt)
    m = evaluate_disparity(gt * 1.25, gt, fx_px=100.0, baseline_m=0.5)
    assert m['abs_rel'] == pytest.approx(0.2)  # depth 4 m instead of 5 m
    assert m['delta1'] == 0.0  # ratio 1.25 is not < 1.25


def test_no_valid_pixels_gives_nan_not_crash():
    m = evaluate_disparity(np.full((2, 2), np.nan), np.zeros((2, 2)), alignment='median')
    assert m['n_valid'] == 0 and math.isnan(m['mae_px']) and math.isnan(m['density'])


def test_bad_arguments_rejected():
    with pytest.raises(ValueError, match='alignment'):
        evaluate_disparity(GT, GT, alignment='mean')
    with pytest.raises(ValueError, match='shape'):
        evaluate_disparity(GT[:3], GT)


def test_mean_metrics_ignores_nan():
    rows = [{'alignment': 'metric', 'mae_px': 1.0, 'd1': float('nan')},
            {'alignment': 'metric', 'mae_px': 3.0, 'd1': 4.0}]
    m = mean_metrics(rows)
    assert m == {'mae_px': 2.0, 'd1': 4.0, 'n_pairs': 2}


def test_best_constant_disparity_is_the_lowest_mae_pct_constant():
    gt = np.array([[1.0, 2.0, 4.0, 8.0, 0.0]])
    best = best_constant_disparity(gt)
    valid = gt[gt > 0]

    def mae_pct(c):
        return np.mean(np.abs(c - valid) / valid)
    assert best in valid
    assert all(mae_pct(best) <= mae_pct(c) + 1e-12 for c in np.linspace(0.5, 10, 400))
    assert np.isnan(best_constant_disparity(np.zeros((2, 2))))
