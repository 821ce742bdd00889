# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Pure stereo geometry: disparity units and metric depth (numpy, no ROS, no torch)."""

import numpy as np


def disp_frac_to_px(disp_frac: np.ndarray, width_px: int) -> np.ndarray:
    """Disparity as a fraction of the width -> pixels: ``d_px = d_frac * W``."""
    return np.asarray(disp_frac, dtype=np.float32) * np.float32(width_px)


def depth_from_disparity(disp_px: np.ndarray, fx_px: float, baseline_m: float,
                         min_disp_px: float = 1e-3) -> np.ndarray:
    """
    Metric depth ``Z = fx * B / d`` in metres; NaN where ``d <= min_disp_px``.

    :param disp_px: disparity in pixels, any shape.
    :param fx_px: focal length in pixels (> 0).
    :param baseline_m: stereo baseline in metres (> 0).
    :param min_disp_px: disparities at or below this are invalid (NaN depth).

    :returns: float32 depth in metres, same shape as ``disp_px``.
    """
    if fx_px <= 0 or baseline_m <= 0:
        raise ValueError(f'fx_px and baseline_m must be positive, got {fx_px}, {baseline_m}')
    disp = np.asarray(disp_px, dtype=np.float32)
    depth = np.full(disp.shape, np.nan, dtype=np.float32)
    # divide in place where valid: ~5x faster than boolean-index gather and scatter
    np.divide(np.float32(fx_px * baseline_m), disp, out=depth, where=disp > min_disp_px)
    return depth
