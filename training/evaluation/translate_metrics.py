# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Metrics of image translation: masks (IoU, boundary F-score) and colour (PSNR, SSIM).

Pure functions on numpy arrays. A mask is a boolean (or 0/non-0) (H, W) array; a colour
image is float (H, W, 3) (or (H, W)) in [0, ``data_range``].

* ``mask_iou``: |P and G| / |P or G|; 1 when both masks are empty.
* ``boundary_fscore``: the boundary F-measure of Martin et al. (2004) / DAVIS
  (Perazzi et al. 2016): a boundary pixel of one mask counts as matched when the other
  mask's boundary lies within ``tolerance_px`` (Euclidean); F = 2 P R / (P + R).
* ``psnr``: 10 log10(range^2 / MSE), in dB (inf for identical images).
* ``ssim``: Wang et al. (2004), 11x11 Gaussian window of sigma 1.5, K1 = 0.01,
  K2 = 0.03, mean over pixels and channels (window centres in the image, borders
  replicated).
"""

import cv2
import numpy as np


def _mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f'expected an (H, W) mask, got shape {mask.shape}')
    return mask.astype(bool)


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f'shapes differ: {a.shape} vs {b.shape}')


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of two masks (H, W); 1.0 when both are empty."""
    p, g = _mask(pred), _mask(gt)
    _same_shape(p, g)
    union = np.logical_or(p, g).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, g).sum() / union)


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """
    Return the inner boundary of a mask: its pixels with a 4-neighbour outside it.

    Pixels on the image border count as boundary only where the mask has a 4-neighbour
    outside it inside the image (the image edge is not a boundary).
    """
    m = _mask(mask).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    eroded = cv2.erode(m, kernel, borderType=cv2.BORDER_REPLICATE)
    return (m > 0) & (eroded == 0)


def _matched(boundary: np.ndarray, other: np.ndarray, tolerance_px: float) -> int:
    """Count the pixels of ``boundary`` within ``tolerance_px`` of a pixel of ``other``."""
    if not other.any():
        return 0
    distance = cv2.distanceTransform((~other).astype(np.uint8), cv2.DIST_L2, 5)
    return int((distance[boundary] <= tolerance_px).sum())


def boundary_fscore(pred: np.ndarray, gt: np.ndarray, tolerance_px: float = 2.0) -> float:
    """
    Boundary F-score of two masks (H, W) with a match tolerance in pixels.

    1.0 when neither mask has a boundary; 0.0 when only one has.
    """
    p, g = mask_boundary(pred), mask_boundary(gt)
    _same_shape(p, g)
    n_p, n_g = int(p.sum()), int(g.sum())
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    precision = _matched(p, g, tolerance_px) / n_p
    recall = _matched(g, p, tolerance_px) / n_g
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def psnr(pred: np.ndarray, gt: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of two images of the same shape; inf if equal."""
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    _same_shape(p, g)
    mse = float(np.mean((p - g) ** 2))
    return float('inf') if mse == 0 else float(10.0 * np.log10(data_range ** 2 / mse))


def _blur(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (11, 11), 1.5, borderType=cv2.BORDER_REPLICATE)


def ssim(pred: np.ndarray, gt: np.ndarray, data_range: float = 1.0) -> float:
    """Mean structural similarity of two images (H, W) or (H, W, C) of the same shape."""
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    _same_shape(p, g)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    channels = [(p, g)] if p.ndim == 2 else [(p[..., c], g[..., c]) for c in range(p.shape[2])]
    scores = []
    for x, y in channels:
        mu_x, mu_y = _blur(x), _blur(y)
        var_x = _blur(x * x) - mu_x ** 2
        var_y = _blur(y * y) - mu_y ** 2
        cov = _blur(x * y) - mu_x * mu_y
        num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
        den = (mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)
        scores.append(float(np.mean(num / den)))
    return float(np.mean(scores))


def mask_metrics(pred: np.ndarray, gt: np.ndarray, tolerance_px: float = 2.0) -> dict:
    """Return ``iou`` and ``boundary_f`` of one predicted mask against its target."""
    return {'iou': mask_iou(pred, gt), 'boundary_f': boundary_fscore(pred, gt, tolerance_px)}


def colour_metrics(pred: np.ndarray, gt: np.ndarray, data_range: float = 1.0) -> dict:
    """Return ``psnr`` and ``ssim`` of one predicted image against its target."""
    return {'psnr': psnr(pred, gt, data_range), 'ssim': ssim(pred, gt, data_range)}
