# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Disparity and depth error metrics against ground truth (pure numpy).

Definitions (``DESIGN.md``, "Metrics"); ``d`` is the GT disparity and ``d'`` the
prediction, both in pixels of the same image width:

* evaluated pixels: GT valid (finite, > 0, inside the mask) AND prediction valid
  (finite, >= 0: a zero disparity is a claim, "infinitely far", not a hole).
  ``density`` is the share of GT-valid pixels where the prediction is valid (SGBM
  leaves holes; a dense network scores 100 %).
* ``mae_px = mean |d' - d|`` (px); ``mae_pct = 100 * mean(|d' - d| / d)`` (%).
* ``bad_k`` = % of pixels with ``|d' - d| > k`` px, k = 1, 2, 3.
* ``d1`` = % of pixels with ``|d' - d| >= 3`` px AND ``|d' - d| / d >= 5 %`` (KITTI 2015).
* with a calibration, on depth ``z = fx_px * baseline_m / d`` (m), on the pixels whose
  GT depth lies inside (1e-3, 80) m (GT outside is EXCLUDED, not clamped, as in KITTI's
  evaluation), the prediction capped to [1e-3, 80] m: ``abs_rel = mean(|z' - z| / z)``,
  ``sq_rel = mean((z' - z)^2 / z)`` (m), ``rmse`` (m), ``rmse_log``, and ``delta1`` =
  % of pixels with ``max(z'/z, z/z') < 1.25``.

Alignment: ``metric`` uses the prediction as is; ``median`` multiplies it by
``median(d) / median(d')`` over the evaluated pixels first (undoes a global scale, e.g. a
model trained on another baseline). Every result names its alignment and scale.
"""

import numpy as np

ALIGNMENTS = ('metric', 'median')
BAD_THRESHOLDS_PX = (1, 2, 3)
D1_ABS_PX = 3.0
D1_REL = 0.05
DEPTH_CAP_M = (1e-3, 80.0)
DISPARITY_KEYS = ('mae_px', 'mae_pct', 'bad_1', 'bad_2', 'bad_3', 'd1')
DEPTH_KEYS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'delta1')


def valid_gt_mask(gt_disp_px: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """
    Pixels where the ground truth can be used.

    :param gt_disp_px: (H, W) GT disparity in px; 0, negative, NaN or inf = unknown.
    :param mask: optional (H, W) bool evaluation mask (True = evaluate).

    :returns: (H, W) bool: finite, > 0 and inside ``mask``.
    """
    gt = np.asarray(gt_disp_px, dtype=np.float64)
    valid = np.isfinite(gt) & (np.nan_to_num(gt, nan=0.0, posinf=0.0) > 0)
    if mask is not None:
        if mask.shape != gt.shape:
            raise ValueError(f'mask shape {mask.shape} differs from GT shape {gt.shape}')
        valid &= mask.astype(bool)
    return valid


def valid_pred_mask(disp_px: np.ndarray) -> np.ndarray:
    """Pixels where a predicted disparity (px) is usable: finite and >= 0."""
    d = np.asarray(disp_px, dtype=np.float64)
    return np.isfinite(d) & (np.nan_to_num(d, nan=-1.0, posinf=-1.0) >= 0)


def best_constant_disparity(gt_disp_px: np.ndarray, mask: np.ndarray | None = None) -> float:
    """
    Return the one disparity with the lowest ``mae_pct`` on a pair: the floor to beat.

    ``mean(|c - d| / d)`` is a weighted L1 in ``c`` (weights ``1 / d``), minimised by the
    weighted median of the GT. Median alignment turns any constant into ``median(d)``,
    whose error is at least this one's.

    :param gt_disp_px: (H, W) GT disparity in px (0, NaN = unknown).
    :param mask: optional (H, W) bool evaluation mask.
    :returns: the constant in px; NaN when no pixel has GT.
    """
    gt = np.asarray(gt_disp_px, np.float64)[valid_gt_mask(gt_disp_px, mask)]
    if gt.size == 0:
        return float('nan')
    order = np.sort(gt)
    weights = np.cumsum(1.0 / order)
    return float(order[np.searchsorted(weights, weights[-1] / 2)])


def median_scale(pred_px: np.ndarray, gt_px: np.ndarray) -> float:
    """
    Scale that maps the prediction's median onto the GT's median.

    :param pred_px: 1-D predicted disparities (px) on the evaluated pixels.
    :param gt_px: 1-D GT disparities (px) on the same pixels.

    :returns: ``median(gt) / median(pred)``; NaN when there are no pixels or the
        prediction's median is 0.
    """
    if pred_px.size == 0 or np.median(pred_px) <= 0:
        return float('nan')
    return float(np.median(gt_px) / np.median(pred_px))


def disparity_errors(pred_px: np.ndarray, gt_px: np.ndarray) -> dict[str, float]:
    """
    Disparity metrics on paired 1-D samples (already valid, already aligned).

    :param pred_px: predicted disparities in px.
    :param gt_px: GT disparities in px (> 0).

    :returns: ``mae_px`` (px), ``mae_pct``, ``bad_1``, ``bad_2``, ``bad_3``, ``d1`` (all %);
        NaN when there are no samples.
    """
    if pred_px.size == 0:
        return {k: float('nan') for k in DISPARITY_KEYS}
    err = np.abs(pred_px.astype(np.float64) - gt_px)
    rel = err / gt_px
    out = {'mae_px': float(err.mean()), 'mae_pct': float(100.0 * rel.mean())}
    for k in BAD_THRESHOLDS_PX:
        out[f'bad_{k}'] = float(100.0 * np.mean(err > k))
    out['d1'] = float(100.0 * np.mean((err >= D1_ABS_PX) & (rel >= D1_REL)))
    return out


def disparity_to_depth_m(disp_px: np.ndarray, fx_px: float, baseline_m: float) -> np.ndarray:
    """Depth in metres ``fx_px * baseline_m / disp_px`` (inf where the disparity is 0)."""
    with np.errstate(divide='ignore'):
        return fx_px * baseline_m / np.asarray(disp_px, dtype=np.float64)


def depth_errors(pred_px: np.ndarray, gt_px: np.ndarray, fx_px: float,
                 baseline_m: float) -> dict[str, float]:
    """
    KITTI depth metrics from paired 1-D disparity samples (valid, aligned).

    :param pred_px: predicted disparities in px (>= 0; 0 is infinitely far, capped).
    :param gt_px: GT disparities in px (> 0).
    :param fx_px: focal length in px of the GT image.
    :param baseline_m: stereo baseline of the GT rig in metres.

    :returns: ``abs_rel``, ``sq_rel`` (m), ``rmse`` (m), ``rmse_log``, ``delta1`` (%) on
        the samples whose GT depth lies inside ``DEPTH_CAP_M`` (the others are dropped, as
        KITTI's evaluation does), the predicted depth capped to that range; NaN when no
        sample is left.
    """
    lo, hi = DEPTH_CAP_M
    z_g = disparity_to_depth_m(gt_px, fx_px, baseline_m)
    inside = (z_g > lo) & (z_g < hi)
    if not inside.any():
        return {k: float('nan') for k in DEPTH_KEYS}
    z_g = z_g[inside]
    z_p = np.clip(disparity_to_depth_m(pred_px[inside], fx_px, baseline_m), lo, hi)
    diff = z_p - z_g
    ratio = np.maximum(z_p / z_g, z_g / z_p)
    return {'abs_rel': float(np.mean(np.abs(diff) / z_g)),
            'sq_rel': float(np.mean(diff ** 2 / z_g)),
            'rmse': float(np.sqrt(np.mean(diff ** 2))),
            'rmse_log': float(np.sqrt(np.mean((np.log(z_p) - np.log(z_g)) ** 2))),
            'delta1': float(100.0 * np.mean(ratio < 1.25))}


def evaluate_disparity(pred_disp_px: np.ndarray, gt_disp_px: np.ndarray,
                       mask: np.ndarray | None = None, alignment: str = 'metric',
                       fx_px: float | None = None,
                       baseline_m: float | None = None) -> dict[str, float | int | str]:
    """
    All metrics of one predicted disparity map against its ground truth.

    :param pred_disp_px: (H, W) predicted disparity in px; NaN, inf or < 0 = no prediction.
    :param gt_disp_px: (H, W) GT disparity in px; 0 / NaN / inf = unknown.
    :param mask: optional (H, W) bool evaluation mask (True = evaluate).
    :param alignment: ``'metric'`` (none) or ``'median'`` (see the module docstring).
    :param fx_px: focal length in px; with ``baseline_m``, adds the depth metrics.
    :param baseline_m: baseline in metres.

    :returns: ``alignment``, ``scale`` (factor applied to the prediction), ``density`` (%),
        ``n_valid`` (evaluated pixels), the disparity metrics and, with a calibration, the
        depth metrics.
    """
    if alignment not in ALIGNMENTS:
        raise ValueError(f'unknown alignment {alignment!r}; use one of {ALIGNMENTS}')
    pred = np.asarray(pred_disp_px, dtype=np.float64)
    gt = np.asarray(gt_disp_px, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction shape {pred.shape} differs from GT shape {gt.shape}')
    gt_valid = valid_gt_mask(gt, mask)
    both = gt_valid & valid_pred_mask(pred)
    p, g = pred[both], gt[both]
    scale = median_scale(p, g) if alignment == 'median' else 1.0
    p = p * scale
    n_gt = int(gt_valid.sum())
    out: dict[str, float | int | str] = {
        'alignment': alignment, 'scale': scale, 'n_valid': int(both.sum()),
        'density': float(100.0 * both.sum() / n_gt) if n_gt else float('nan')}
    out.update(disparity_errors(p, g))
    if fx_px is not None and baseline_m is not None:
        out.update(depth_errors(p, g, float(fx_px), float(baseline_m)))
    return out


def mean_metrics(results: list[dict]) -> dict[str, float]:
    """
    Mean over pairs of every numeric metric (NaN entries ignored).

    :param results: per-pair dicts of ``evaluate_disparity`` (same alignment).

    :returns: metric name -> mean over the pairs that have it; ``n_pairs`` added.
    """
    keys = [k for k in results[0] if isinstance(results[0][k], (int, float))] if results else []
    out: dict[str, float] = {}
    for k in keys:
        vals = np.array([r[k] for r in results if k in r], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        out[k] = float(vals.mean()) if vals.size else float('nan')
    out['n_pairs'] = len(results)
    return out
