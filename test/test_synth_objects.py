# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Synthetic object scenes: exact disparity, classes, mixing with rows, the CLI."""

import subprocess
import sys

import numpy as np
from sorghum_depth_training.data.dataset_dir import load_dataset
from sorghum_depth_training.data.synth_objects_hit import hit_boxes, hit_panels, hit_spheres
from sorghum_depth_training.data.synth_render import Camera, GBuffer, GROUND, OBJECT, SKY
from sorghum_depth_training.data.synthetic import render_pair
from test_synthetic import warp_errors


def _camera(width=64, height=48, fx=50.0):
    return Camera(fx, fx, (width - 1) / 2, (height - 1) / 2, width, height,
                  np.array([0.0, 1.0, 0.0]), np.diag([1.0, -1.0, 1.0]))


def _depth_at_centre(hit, params):
    cam = _camera()
    buf = GBuffer(cam.height, cam.width)
    hit(cam, cam.rays(), buf, np.array([params], float), np.array([7]), np.array([0, 1.0, 0]))
    h, w = buf.depth.shape
    return buf, float(buf.depth[h // 2 - 1:h // 2 + 1, w // 2 - 1:w // 2 + 1].mean())


def test_primitives_hit_where_geometry_says():
    """A box, a sphere and a wall straight ahead: the centre ray's depth is known."""
    buf, depth = _depth_at_centre(hit_boxes, [0, 1, 5, 0.5, 0.5, 0.5, 0.3, 0, 0])
    assert abs(depth - 4.5) < 0.1 and (buf.mat == OBJECT).any() and (buf.obj == 7).any()
    assert (buf.mat == SKY).mean() > 0.5          # only the box's window is drawn
    _, depth = _depth_at_centre(hit_spheres, [0, 1, 4, 1.0, 0, 0, 0, 0, 0])
    assert abs(depth - 3.0) < 0.02
    buf, depth = _depth_at_centre(hit_panels, [-5, -4, 6, 0.0, np.pi / 2, 10, 10, 0, 0])
    assert abs(depth - 6.0) < 1e-4 and (buf.mat == OBJECT).mean() > 0.99


def test_object_scene_gt_disparity_is_exact():
    """The right view warped by the GT rebuilds the left one (non-occluded pixels)."""
    for index in range(3):
        s = render_pair(11, index, 320, 128, scenes='objects')
        assert set(np.unique(s.classes)) <= {SKY, GROUND, OBJECT}
        assert (s.classes == OBJECT).mean() > 0.02
        err_gt, err_zero = warp_errors(s)
        assert err_gt[s.nonocc].mean() < 0.2 * err_zero[s.nonocc].mean()


def test_objects_vary_aspect_and_mixed_alternates():
    """Mixed renders rows at every third index, object scenes at the others."""
    rows = render_pair(4, 3, 256, 128, scenes='rows')
    mixed_rows, mixed_objects = (render_pair(4, i, 256, 128, scenes='mixed') for i in (3, 4))
    np.testing.assert_array_equal(rows.left, mixed_rows.left)
    assert (mixed_objects.classes == OBJECT).any() and not (mixed_rows.classes == OBJECT).any()
    a, b = render_pair(4, 4, 256, 128, scenes='objects'), mixed_objects
    np.testing.assert_array_equal(a.left, b.left)


def test_cli_scenes_option(tmp_path):
    out = tmp_path / 'objects'
    cmd = [sys.executable, '-m', 'sorghum_depth_training.data.synthetic', str(out),
           '--count', '2', '--width', '128', '--height', '64', '--scenes', 'objects']
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ds = load_dataset(out)
    assert ds.calib.source['scenes'] == 'objects' and ds.has_disp_gt
    bad = subprocess.run(cmd[:-1] + ['trees'], capture_output=True, text=True)
    assert bad.returncode == 2 and 'invalid choice' in bad.stderr
