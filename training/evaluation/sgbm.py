# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Classical stereo baseline: OpenCV semi-global block matching with fixed settings.

The settings are fixed (not tuned per dataset) so that every evaluation compares the
network against the same classical method. They are OpenCV's documented recipe for
3-channel input:

* ``minDisparity = 0``; ``numDisparities`` by default 0.25 x image width rounded up to a
  multiple of 16 (96 px at 384 px wide, 320 px at KITTI's 1241 px). The leftmost
  ``numDisparities`` columns have no match candidates and stay invalid, so a range far
  wider than the scene's disparities costs density for nothing. Where the largest
  disparity is known (evaluation against GT, as Middlebury publishes ``ndisp`` per
  scene), ``num_disparities_for`` gives the smallest multiple of 16 that covers it
  (tsukuba 16, venus 32, teddy and cones 64 instead of 96 to 128: density on the nonocc
  mask 74 -> 93 % mean, bad_3 2.05 -> 1.86 %).
* ``blockSize = 5``; smoothness ``P1 = 8 * 3 * 5^2 = 600``, ``P2 = 32 * 3 * 5^2 = 2400``.
* ``mode = MODE_SGBM_3WAY`` (8-path-equivalent quality of the 3-way variant, faster).
* ``uniquenessRatio = 10`` (%), ``disp12MaxDiff = 1`` px (left-right check),
  ``preFilterCap = 63``, speckle filter ``speckleWindowSize = 100`` px,
  ``speckleRange = 2`` (x16 internally: 2 px).

Invalid pixels (no match, failed checks, speckles) are NaN in the output; SGBM is
therefore scored on its valid pixels together with its density.
"""

import cv2
import numpy as np

NUM_DISP_FRAC = 0.25
BLOCK_SIZE = 5
SGBM_SETTINGS = {
    'minDisparity': 0,
    'blockSize': BLOCK_SIZE,
    'P1': 8 * 3 * BLOCK_SIZE ** 2,
    'P2': 32 * 3 * BLOCK_SIZE ** 2,
    'disp12MaxDiff': 1,
    'preFilterCap': 63,
    'uniquenessRatio': 10,
    'speckleWindowSize': 100,
    'speckleRange': 2,
    'mode': cv2.STEREO_SGBM_MODE_SGBM_3WAY,
}


def num_disparities(width_px: int) -> int:
    """Disparity search range in px for an image ``width_px`` wide (multiple of 16)."""
    return max(16, 16 * int(np.ceil(NUM_DISP_FRAC * width_px / 16)))


def num_disparities_for(max_disp_px: float) -> int:
    """
    Return the smallest search range (multiple of 16) whose [0, n - 1] px covers a disparity.

    :param max_disp_px: largest disparity the scene holds, in px (e.g. the GT's maximum).
    """
    if not np.isfinite(max_disp_px) or max_disp_px < 0:
        raise ValueError(f'max_disp_px must be finite and >= 0, got {max_disp_px}')
    return max(16, 16 * int(np.ceil((np.ceil(max_disp_px) + 1) / 16)))


def sgbm_settings(width_px: int, num_disp_px: int | None = None) -> dict[str, int | str]:
    """All SGBM settings used for an image ``width_px`` wide, as plain JSON-able values."""
    num = num_disparities(width_px) if num_disp_px is None else num_disp_px
    settings: dict[str, int | str] = dict(SGBM_SETTINGS, numDisparities=num)
    settings['mode'] = 'MODE_SGBM_3WAY'
    return settings


def sgbm_disparity(left_rgb: np.ndarray, right_rgb: np.ndarray,
                   num_disp_px: int | None = None) -> np.ndarray:
    """
    Left disparity of a rectified pair by OpenCV StereoSGBM (settings in the module docstring).

    :param left_rgb: uint8 (H, W, 3) RGB (or (H, W) gray) rectified left image.
    :param right_rgb: the right image, same shape and type.
    :param num_disp_px: search range in px, a positive multiple of 16; None = the default
        (0.25 x width, ``num_disparities``).

    :returns: float32 (H, W) disparity in px (1/16 px steps), NaN where invalid; all NaN
        when the image is not wider than the range (no column has match candidates).
    """
    if left_rgb.shape != right_rgb.shape:
        raise ValueError(f'left {left_rgb.shape} and right {right_rgb.shape} differ in shape')
    if left_rgb.dtype != np.uint8 or right_rgb.dtype != np.uint8:
        raise ValueError(f'SGBM wants uint8 images, got {left_rgb.dtype}/{right_rgb.dtype}')
    num = num_disparities(left_rgb.shape[1]) if num_disp_px is None else int(num_disp_px)
    if num <= 0 or num % 16:
        raise ValueError(f'num_disp_px must be a positive multiple of 16, got {num_disp_px}')
    if left_rgb.shape[1] <= num:
        return np.full(left_rgb.shape[:2], np.nan, np.float32)
    matcher = cv2.StereoSGBM_create(numDisparities=num, **SGBM_SETTINGS)
    raw = matcher.compute(left_rgb, right_rgb)
    disp = raw.astype(np.float32) / 16.0
    disp[raw < SGBM_SETTINGS['minDisparity'] * 16] = np.nan
    return disp
