# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Pure stereo geometry: disparity units, metric depth, the focal length (no ROS, no torch)."""

from dataclasses import dataclass
import math

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


# A focal length outside [FX_MIN_PER_WIDTH, FX_MAX_PER_WIDTH] x image width is not a
# camera's (a 0.06 to 180 000 degree field of view is not either): refused as garbage.
FX_MIN_PER_WIDTH, FX_MAX_PER_WIDTH = 1e-3, 1e3
MODEL_FX = 'the model metadata (fx_over_width x width)'


@dataclass(frozen=True)
class FocalChoice:
    """
    The focal length a frame's depth uses, where it came from, and what to re-publish.

    :ivar fx_px: focal length used for depth, px (always plausible).
    :ivar source: 'fx_px parameter', 'camera_info P[0]', 'camera_info K[0]' or
        ``MODEL_FX`` (a camera_info of another width adds ', scaled to the width').
    :ivar warning: why a camera_info was not used as is; '' when nothing is wrong.
    :ivar info_from: how the output camera_info is built: 'P' (the input's, as is), 'K'
        (the input's with P rebuilt from K) or '' (an ideal pinhole with ``fx_px``).
    """

    fx_px: float
    source: str
    warning: str = ''
    info_from: str = ''


def plausible_fx(fx_px: float, width_px: int) -> bool:
    """Return True for a finite focal length within [1e-3, 1e3] x the image width."""
    return math.isfinite(fx_px) and \
        FX_MIN_PER_WIDTH * width_px <= fx_px <= FX_MAX_PER_WIDTH * width_px


def _finite(values) -> bool:
    return values is not None and len(values) > 0 and bool(np.isfinite(values).all())


def choose_focal(width_px: int, model_fx_px: float, param_fx_px: float = 0.0,
                 info=None, scale_other_width: bool = False) -> FocalChoice:
    """
    Choose the focal length of one frame ``width_px`` wide (README, the node).

    Order: a positive ``param_fx_px``; else the camera_info's rectified ``P[0]`` (as
    image_geometry does); else its ``K[0]`` (P empty or invalid); else ``model_fx_px``.
    A camera_info value is used only when finite and within [1e-3, 1e3] x the width.

    :param width_px: the image's width.
    :param model_fx_px: the training rig's fx / W times ``width_px`` (the last resort).
    :param param_fx_px: the ``fx_px`` parameter (0 = unset).
    :param info: a CameraInfo (fields ``width``, ``height``, ``k``, ``p``) or None.
    :param scale_other_width: a camera_info of another width is scaled to ``width_px``
        (offline inference); else it is refused with a warning (the node).
    :returns: the FocalChoice; ``warning`` is non-empty when the camera_info was bad.
    """
    if param_fx_px > 0:
        return FocalChoice(float(param_fx_px), 'fx_px parameter')
    if info is None:
        return FocalChoice(float(model_fx_px), MODEL_FX)
    info_w = int(info.width)
    scale = 1.0 if info_w in (0, width_px) else width_px / info_w
    if scale != 1.0 and not scale_other_width:
        return FocalChoice(float(model_fx_px), MODEL_FX,
                           f'camera_info is {info_w} px wide, the image {width_px} px; '
                           f'using {MODEL_FX}')
    p_fx = float(info.p[0]) if len(info.p) == 12 else float('nan')
    k_fx = float(info.k[0]) if len(info.k) == 9 else float('nan')
    suffix = '' if scale == 1.0 else ', scaled to the width'
    intact = scale == 1.0 and _finite(info.k) and _finite(info.p)
    if plausible_fx(p_fx * scale, width_px):
        broken = '' if intact or scale != 1.0 else (
            'camera_info has NaN or infinite entries in K or P; depth/camera_info is an '
            f'ideal pinhole with fx = P[0] = {p_fx:g}')
        return FocalChoice(p_fx * scale, 'camera_info P[0]' + suffix, broken,
                           'P' if intact else '')
    why = 'P is empty' if not np.any(info.p) else f'P[0] is {p_fx:g}'
    if plausible_fx(k_fx * scale, width_px):
        return FocalChoice(k_fx * scale, 'camera_info K[0]' + suffix,
                           f'camera_info {why}; using K[0] = {k_fx:g}',
                           'K' if scale == 1.0 and _finite(info.k) else '')
    return FocalChoice(float(model_fx_px), MODEL_FX,
                       f'camera_info {why} and K[0] is {k_fx:g} (need a finite fx within '
                       f'[{FX_MIN_PER_WIDTH:g}, {FX_MAX_PER_WIDTH:g}] x the width); '
                       f'using {MODEL_FX}')
