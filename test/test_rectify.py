# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Rectification maps against the camera models written out by hand (plumb_bob, fisheye)."""

import cv2
import numpy as np
import pytest
from sorghum_depth.messages import CameraInfo, RegionOfInterest, TYPESTORE
from sorghum_depth_training.data.bag_io import camera_info
from sorghum_depth_training.data.rectify import Rectifier

W, H, FX, CX, CY, BASELINE_M = 320, 240, 180.0, 161.5, 118.0, 0.12
K = [175.0, 0.0, 158.0, 0.0, 176.0, 121.0, 0.0, 0.0, 1.0]    # raw intrinsics
HEADER = TYPESTORE.types['std_msgs/msg/Header'](
    stamp=TYPESTORE.types['builtin_interfaces/msg/Time'](sec=0, nanosec=0), frame_id='cam')


def _info(model: str, d, tx_m: float = 0.0):
    fields = camera_info(W, H, FX, FX, CX, CY, tx_m, d=d, k=K)
    fields['distortion_model'] = model
    roi = RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return CameraInfo(header=HEADER, binning_x=0, binning_y=0, roi=roi, **fields)


def _distort(model: str, d, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised undistorted -> distorted coordinates, from the model's equations."""
    r = np.hypot(x, y)
    if model == 'equidistant':           # theta_d = theta (1 + k1 t^2 + k2 t^4 + k3 t^6 + k4 t^8)
        theta = np.arctan(r)
        t2 = theta ** 2
        theta_d = theta * (1 + d[0] * t2 + d[1] * t2 ** 2 + d[2] * t2 ** 3 + d[3] * t2 ** 4)
        scale = np.where(r > 0, theta_d / np.where(r > 0, r, 1), 1.0)
        return x * scale, y * scale
    k1, k2, p1, p2, k3 = d                # plumb_bob: radial + tangential
    r2 = r ** 2
    radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x ** 2),
            y * radial + p1 * (r2 + 2 * y ** 2) + 2 * p2 * x * y)


@pytest.mark.parametrize('model,d', [('equidistant', [-0.05, 0.01, -0.004, 0.001]),
                                     ('plumb_bob', [-0.28, 0.07, 0.001, -0.0005, 0.0])])
def test_maps_sample_where_the_camera_model_says(model, d):
    infos = {'left': _info(model, d), 'right': _info(model, d, BASELINE_M)}
    rect = Rectifier(infos, {'left': '/cam/left/image_raw', 'right': '/cam/right/image_raw'})
    assert rect.rectifies and rect.baseline_m == pytest.approx(BASELINE_M)
    map_x, map_y = cv2.convertMaps(*rect.maps['left'], cv2.CV_32FC1)
    v, u = np.mgrid[20:H - 20:11, 20:W - 20:13].astype(np.float64)
    xd, yd = _distort(model, d, (u - CX) / FX, (v - CY) / FX)     # R = I, P = [FX 0 CX ...]
    src_u, src_v = K[0] * xd + K[2], K[4] * yd + K[5]
    iu, iv = u.astype(int), v.astype(int)
    # CV_16SC2 maps keep 1/32 px
    np.testing.assert_allclose(map_x[iv, iu], src_u, atol=1 / 32 + 1e-3)
    np.testing.assert_allclose(map_y[iv, iu], src_v, atol=1 / 32 + 1e-3)
    assert np.abs(src_u - u).max() > 2, 'the distortion must move pixels for a real test'
