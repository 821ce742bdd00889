# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The installed core stays ROS-free, and its geometry has the right units."""

import subprocess
import sys

import numpy as np
import pytest
from sorghum_depth.geometry import depth_from_disparity, disp_frac_to_px


@pytest.mark.parametrize('module', ['sorghum_depth', 'sorghum_depth.geometry',
                                    'sorghum_depth_training.step'])
def test_core_import_does_not_import_rclpy(module):
    code = f'import sys, {module}; print("rclpy" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == 'False'


def test_depth_known_values_and_invalid_is_nan():
    disp_px = np.array([[70.7, 7.07], [0.0, -1.0]])
    depth_m = depth_from_disparity(disp_px, fx_px=707.0, baseline_m=0.537)
    assert depth_m.dtype == np.float32
    np.testing.assert_allclose(depth_m[0], [5.37, 53.7], rtol=1e-5)
    assert np.isnan(depth_m[1]).all()


def test_disparity_fraction_to_pixels():
    np.testing.assert_allclose(disp_frac_to_px(np.array([0.1, 0.3]), 640), [64.0, 192.0])


def test_bad_calibration_is_rejected():
    with pytest.raises(ValueError, match='positive'):
        depth_from_disparity(np.ones(2), fx_px=0.0, baseline_m=0.5)
