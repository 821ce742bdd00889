# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Warp: known shifts, per-pixel disparity against a numpy oracle, border, gradients."""

import numpy as np
import pytest
from sorghum_depth_training.objectives.warp import (reconstruct_left, reconstruct_right,
                                                    warp_horizontal)
import torch


def _image(h=16, w=32, c=3, seed=0):
    return torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(seed),
                      dtype=torch.float64)


@pytest.mark.parametrize('d_px', [1, 3, 7])
def test_constant_shift_reconstructs_left_interior(d_px):
    w = 32
    scene = _image(w=w + d_px)
    left = scene[..., :w]              # left(x) = scene(x)
    right = scene[..., d_px:]          # right(x) = scene(x + d), so left(x) = right(x - d)
    disp = torch.full((1, 1, 16, w), d_px / w, dtype=torch.float64)
    est = reconstruct_left(right, disp)
    assert (est[..., d_px:] - left[..., d_px:]).abs().max() < 1e-4
    assert (est[..., :d_px] - left[..., :d_px]).abs().max() > 1e-2, 'border cannot be exact'


def test_constant_shift_reconstructs_right_interior():
    d_px, w = 4, 32
    scene = _image(w=w + d_px)
    left, right = scene[..., :w], scene[..., d_px:]
    disp = torch.full((1, 1, 16, w), d_px / w, dtype=torch.float64)
    est = reconstruct_right(left, disp)
    assert (est[..., :w - d_px] - right[..., :w - d_px]).abs().max() < 1e-4


def test_per_pixel_disparity_matches_numpy_linear_interpolation():
    h, w = 12, 40
    right = _image(h, w, c=1, seed=1)
    gen = torch.Generator().manual_seed(2)
    disp_px = torch.rand(1, 1, h, w, generator=gen, dtype=torch.float64) * 6.0
    est = reconstruct_left(right, disp_px / w)[0, 0].numpy()
    cols = np.arange(w, dtype=np.float64)
    for y in range(h):
        src_x = cols - disp_px[0, 0, y].numpy()
        inside = src_x >= 0
        oracle = np.interp(src_x, cols, right[0, 0, y].numpy())
        assert np.abs(est[y, inside] - oracle[inside]).max() < 1e-4


def test_zero_offset_is_identity_and_border_is_clamped():
    img = _image()
    assert torch.allclose(warp_horizontal(img, torch.zeros(1, 1, 16, 32, dtype=img.dtype)), img)
    far = warp_horizontal(img, torch.full((1, 1, 16, 32), 2.0, dtype=img.dtype))
    assert torch.allclose(far, img[..., -1:].expand_as(img))


def test_wrong_offset_shape_is_rejected():
    with pytest.raises(ValueError, match='offset_frac'):
        warp_horizontal(_image(), torch.zeros(1, 2, 16, 32, dtype=torch.float64))


def test_warp_gradcheck_float64():
    img = _image(4, 6, c=2).requires_grad_()
    off = (0.05 + 0.1 * _image(4, 6, c=1, seed=3)).requires_grad_()
    assert torch.autograd.gradcheck(warp_horizontal, (img, off), eps=1e-6, atol=1e-5)
