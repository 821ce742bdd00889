# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
From an RGB frame to disparity and metric depth, with the geometry a message needs.

ROS-free: the node converts a message to RGB, calls ``DepthPipeline.run`` and fills
messages from the ``DepthResult``; offline bag inference does the same.
"""

from dataclasses import dataclass
import time

import numpy as np

from .geometry import depth_from_disparity
from .inference import DepthModel, DeviceOutOfMemory

INVALID_DISPARITY = -1.0


class InferenceError(RuntimeError):
    """The model could not run on a frame (for example CUDA out of memory)."""


@dataclass
class DepthResult:
    """
    One frame's output.

    :ivar disp_px: (H, W) float32 disparity in px; ``INVALID_DISPARITY`` where invalid
        (below ``min_disp_px``, as stereo_msgs/DisparityImage requires).
    :ivar depth_m: (H, W) float32 depth in metres, NaN where invalid.
    :ivar fx_px: focal length used, px (DisparityImage ``f``).
    :ivar baseline_m: baseline used, m (DisparityImage ``t``).
    :ivar min_disp_px: smallest valid disparity, ``f t / max_depth_m``.
    :ivar max_disp_px: largest valid disparity, ``min(f t / min_depth_m, model ceiling)``.
    :ivar delta_d_px: disparity resolution: 1/16 px at the network's width, in input px.
    :ivar forward_s: model forward time in seconds.
    :ivar valid_px: number of valid pixels (0: the whole frame is invalid).
    """

    disp_px: np.ndarray
    depth_m: np.ndarray
    fx_px: float
    baseline_m: float
    min_disp_px: float
    max_disp_px: float
    delta_d_px: float
    forward_s: float
    valid_px: int = -1


class DepthPipeline:
    """A loaded model plus the rules for focal length, baseline and valid range."""

    def __init__(self, model: DepthModel, post_process: bool | None = None):
        """
        Use ``model`` (see ``sorghum_depth.inference.load_model``).

        :param post_process: flip post-processing on (True) or off (False); None (the
            default) runs the model as exported (its metadata's ``post_process``).
        """
        self.model = model
        self.post_process = post_process

    def run(self, rgb: np.ndarray, fx_px: float = 0.0, baseline_m: float = 0.0,
            min_depth_m: float = 0.3, max_depth_m: float = 40.0) -> DepthResult:
        """
        Predict disparity and depth for one frame.

        :param rgb: (H, W, 3) uint8 RGB.
        :param fx_px: focal length in px (0 = the training rig's fx / W times W).
        :param baseline_m: baseline in m (0 = the training rig's).
        :param min_depth_m: nearer is invalid.
        :param max_depth_m: farther is invalid.
        :returns: the frame's DepthResult.
        """
        width = rgb.shape[1]
        fx, base = self.model.geometry(width, fx_px, baseline_m)
        start = time.perf_counter()
        try:
            disp = self.model.predict_disparity(rgb, self.post_process)
        except DeviceOutOfMemory as err:      # the backend emptied its cache
            raise InferenceError(f'CUDA out of memory on a {width}x{rgb.shape[0]} frame; '
                                 'frame skipped (try fp16 or a smaller input)') from err
        forward_s = time.perf_counter() - start
        ceiling = self.model.metadata['max_disp_frac'] * width
        lo, hi = fx * base / max_depth_m, min(fx * base / min_depth_m, ceiling)
        # in place, few passes: this runs on every frame at camera resolution
        disp = np.require(disp, np.float32, ['C', 'W'])
        invalid = ~((disp >= lo) & (disp <= hi))        # NaN fails both: invalid too
        np.copyto(disp, np.float32(INVALID_DISPARITY), where=invalid)
        depth = depth_from_disparity(disp, fx, base, min_disp_px=0.0)    # valid: d >= lo > 0
        delta_d = width / self.model.metadata['input_width'] / 16.0
        valid_px = disp.size - int(np.count_nonzero(invalid))
        return DepthResult(disp, depth, fx, base, lo, hi, delta_d, forward_s, valid_px)
