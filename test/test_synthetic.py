# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Synthetic sorghum-row generator: determinism, exact GT disparity, dataset output."""

import subprocess
import sys

import numpy as np
import pytest
from sorghum_depth_training.data.dataset_dir import load_dataset
from sorghum_depth_training.data.synthetic import render_pair, write_synthetic
from sorghum_depth_training.objectives.warp import reconstruct_left
import torch


def warp_errors(sample):
    """Mean abs error (0..1 intensity) of left vs right warped by GT and by zero disparity."""
    h, w = sample.disp_gt_px.shape
    left = torch.from_numpy(sample.left / 255.0).float().permute(2, 0, 1)[None]
    right = torch.from_numpy(sample.right / 255.0).float().permute(2, 0, 1)[None]
    disp = torch.from_numpy(sample.disp_gt_px / w)[None, None]
    err_gt = (reconstruct_left(right, disp) - left).abs().mean(1)[0].numpy()
    err_zero = (reconstruct_left(right, torch.zeros_like(disp)) - left).abs().mean(1)[0].numpy()
    return err_gt, err_zero


def test_gt_disparity_reconstructs_left_far_better_than_zero():
    for index in range(2):
        s = render_pair(seed=7, index=index)
        assert s.left.shape == (192, 640, 3) and s.disp_gt_px.dtype == np.float32
        assert 10.0 < s.disp_gt_px.max() < 0.3 * 640
        err_gt, err_zero = warp_errors(s)
        vis = s.nonocc
        print(f'scene {index}: all pixels gt {err_gt.mean():.4f} zero {err_zero.mean():.4f}; '
              f'non-occluded ({vis.mean():.0%}) gt {err_gt[vis].mean():.4f} '
              f'zero {err_zero[vis].mean():.4f}')
        assert err_gt[vis].mean() < 0.15 * err_zero[vis].mean()
        assert err_gt.mean() < 0.6 * err_zero.mean()
        assert err_gt[~vis].mean() > 3 * err_gt[vis].mean(), 'occlusion mask says nothing'


def test_deterministic_per_seed_and_scene():
    a, b = render_pair(3, 1, 256, 128), render_pair(3, 1, 256, 128)
    c = render_pair(3, 2, 256, 128)
    np.testing.assert_array_equal(a.left, b.left)
    np.testing.assert_array_equal(a.disp_gt_px, b.disp_gt_px)
    assert np.abs(a.left.astype(int) - c.left.astype(int)).mean() > 10


def test_disparity_scales_with_fx_and_baseline():
    a = render_pair(0, 0, 256, 128, fx_px=150.0, baseline_m=0.1)
    b = render_pair(0, 0, 256, 128, fx_px=150.0, baseline_m=0.2)
    np.testing.assert_allclose(b.disp_gt_px, 2 * a.disp_gt_px, rtol=1e-5)
    np.testing.assert_array_equal(a.left, b.left)


def test_cli_writes_dataset_with_gt(tmp_path):
    out = tmp_path / 'synth'
    cmd = [sys.executable, '-m', 'sorghum_depth_training.data.synthetic', str(out), '--count', '3',
           '--width', '256', '--height', '128', '--seed', '5']
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ds = load_dataset(out)
    assert (ds.calib.width, ds.calib.height, ds.calib.fx) == (256, 128, pytest.approx(153.6))
    assert ds.names() == ['000000', '000001', '000002'] and ds.has_disp_gt
    left, _ = ds.read_pair('000001')
    ref = render_pair(5, 1, 256, 128)
    np.testing.assert_allclose(left, ref.left / 255.0, atol=1e-6)
    np.testing.assert_array_equal(ds.read_disp_gt('000001'), ref.disp_gt_px)
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and 'already holds a dataset' in again.stderr


def test_cli_help():
    done = subprocess.run([sys.executable, '-m', 'sorghum_depth_training.data.synthetic',
                           '--help'],
                          capture_output=True, text=True)
    assert done.returncode == 0 and 'disp_gt' in done.stdout and '--bag' in done.stdout


def test_bag_round_trip_through_extraction(tmp_path):
    calib = write_synthetic(tmp_path / 'ds', 2, seed=1, width=256, height=128,
                            bag_path=tmp_path / 'bag')
    done = subprocess.run([sys.executable, '-m', 'sorghum_depth_training.data.extract',
                           str(tmp_path / 'bag'), '-o', str(tmp_path / 'ex')],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert 'image_rect' in done.stdout and 'already rectified' in done.stdout
    direct, extracted = load_dataset(tmp_path / 'ds'), load_dataset(tmp_path / 'ex')
    for key in ('width', 'height', 'fx', 'fy', 'cx', 'cy', 'baseline_m'):
        assert getattr(extracted.calib, key) == pytest.approx(getattr(calib, key))
    for name in direct.names():
        for a, b in zip(direct.read_pair(name), extracted.read_pair(name)):
            np.testing.assert_array_equal(a, b)
