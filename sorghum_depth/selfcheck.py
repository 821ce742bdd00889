# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Live quality signal without ground truth: rebuild the left view from the right one.

If the predicted left disparity is right, ``left(x) = right(x - d(x))``. The error of
that reconstruction (monodepth's appearance error, 0 = perfect) rises when the model
meets scenes it does not understand.
"""

import cv2
import numpy as np

SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2


def rebuild_left(right_rgb: np.ndarray, disp_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (left view rebuilt from ``right_rgb`` with ``disp_px``, mask of usable pixels)."""
    h, w = disp_px.shape
    xs = np.arange(w, dtype=np.float32)[None, :] - disp_px.astype(np.float32)
    ys = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, axis=1)
    rebuilt = cv2.remap(right_rgb.astype(np.float32) / 255.0, xs, ys, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    return rebuilt, (xs >= 0) & (disp_px > 0)


def _ssim_dissimilarity(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    def blur(a):
        return cv2.blur(a, (3, 3), borderType=cv2.BORDER_REFLECT)
    mu_x, mu_y = blur(x), blur(y)
    sig_x, sig_y = blur(x * x) - mu_x ** 2, blur(y * y) - mu_y ** 2
    sig_xy = blur(x * y) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + SSIM_C1) * (2 * sig_xy + SSIM_C2)
            / ((mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (sig_x + sig_y + SSIM_C2)))
    return np.clip((1 - ssim) / 2, 0, 1)


def photometric_error(left_rgb: np.ndarray, right_rgb: np.ndarray, disp_px: np.ndarray,
                      alpha: float = 0.85) -> float:
    """
    Appearance error ``alpha (1 - SSIM) / 2 + (1 - alpha) L1`` of the rebuilt left view.

    :param left_rgb: (H, W, 3) uint8 left image.
    :param right_rgb: (H, W, 3) uint8 right image of the same instant.
    :param disp_px: (H, W) predicted left disparity in px (<= 0 = invalid).
    :returns: mean error over usable pixels (NaN if none).
    """
    rebuilt, usable = rebuild_left(right_rgb, disp_px)
    left = left_rgb.astype(np.float32) / 255.0
    err = alpha * _ssim_dissimilarity(rebuilt, left) + (1 - alpha) * np.abs(rebuilt - left)
    return float(err.mean(axis=2)[usable].mean()) if usable.any() else float('nan')
