# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The translation benchmark's scoring on known values (threshold, 8-bit, tolerance)."""

from pathlib import Path
import sys

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
import translate_eval as te  # noqa: E402  (benchmarks/ is not a package)

H, W = 32, 64


def _stripe(x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[:, x0:x1] = 255
    return mask


def _output(mask: np.ndarray, low: float = 0.49, high: float = 0.51) -> np.ndarray:
    """Make a network output (H, W, 1) in [0, 1]: ``high`` on the mask, ``low`` off it."""
    return np.where(mask > 0, high, low).astype(np.float32)[..., None]


def test_stalk_scores_shifted_stripe():
    target = _stripe(10, 30)                       # 20 px wide, full height
    two = te.score_stalks([_output(_stripe(12, 32))], [target])
    assert two['iou'] == pytest.approx(18 / 22)
    assert two['boundary_f'] == pytest.approx(1.0)   # 2 px off: within the tolerance
    three = te.score_stalks([_output(_stripe(13, 33))], [target])
    assert three['iou'] == pytest.approx(17 / 23)
    assert three['boundary_f'] == pytest.approx(0.0)   # 3 px off: every edge missed
    sharp = te.score_stalks([_output(target, 0.0, 1.0)], [target])
    assert sharp['gradient_ratio'] == pytest.approx(1.0)   # of the soft output
    empty = te.score_stalks([_output(np.zeros((H, W)))], [target])
    assert empty['iou'] == 0.0 and empty['stalk_fraction_pred'] == 0.0
    assert empty['stalk_fraction_true'] == pytest.approx(20 / W)


def test_colour_scores_known_offset_and_grey():
    rng = np.random.default_rng(0)
    target = rng.integers(40, 200, (H, W, 3), dtype=np.uint8)
    pred = (target.astype(np.float32) + 10) / 255          # +10 levels everywhere
    scores = te.score_colour([pred], [target])
    assert scores['psnr_db'] == pytest.approx(20 * np.log10(255 / 10), abs=1e-4)
    same = te.score_colour([target.astype(np.float32) / 255], [target])
    assert same['ssim'] == pytest.approx(1.0)
    assert same['colourfulness_ratio'] == pytest.approx(1.0)
    grey = np.repeat(target.mean(axis=2, keepdims=True), 3, axis=2) / 255
    assert te.score_colour([grey], [target])['colourfulness_ratio'] == pytest.approx(0.0)
