# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Loss terms: known values on tiny tensors, zero for perfect input, oracle, gradcheck."""

import kornia
import pytest
from sorghum_depth_training.losses import (appearance_loss, lr_consistency_loss, scale_pyramid,
                                           smoothness_loss, SSIM_C1, ssim_dissimilarity)
from sorghum_depth_training.warp import reconstruct_right
import torch


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_ssim_of_identical_images_is_zero():
    x = _rand(2, 3, 8, 9)
    assert ssim_dissimilarity(x, x).abs().max() < 1e-12


def test_ssim_known_value_for_constant_images():
    a, b = 0.2, 0.6
    x = torch.full((1, 1, 5, 5), a, dtype=torch.float64)
    y = torch.full((1, 1, 5, 5), b, dtype=torch.float64)
    ssim = (2 * a * b + SSIM_C1) / (a * a + b * b + SSIM_C1)   # variances are zero
    assert torch.allclose(ssim_dissimilarity(x, y), torch.tensor((1 - ssim) / 2,
                                                                 dtype=torch.float64))


def test_appearance_known_value_and_zero_for_perfect_reconstruction():
    x = torch.full((1, 3, 4, 4), 0.3, dtype=torch.float64)
    y = torch.full((1, 3, 4, 4), 0.5, dtype=torch.float64)
    ssim = (2 * 0.3 * 0.5 + SSIM_C1) / (0.09 + 0.25 + SSIM_C1)
    expected = 0.85 * (1 - ssim) / 2 + 0.15 * 0.2
    assert appearance_loss(x, y).item() == pytest.approx(expected, rel=1e-12)
    assert appearance_loss(y, y).item() == 0.0
    assert appearance_loss(x, y, alpha=0.0).item() == pytest.approx(0.2)


def test_lr_consistency_known_values():
    d = torch.full((1, 1, 6, 8), 0.1, dtype=torch.float64)
    assert lr_consistency_loss(d, d).item() == 0.0
    assert lr_consistency_loss(d, 2 * d).item() == pytest.approx(0.2)


def test_lr_consistency_prefers_the_consistent_right_disparity():
    # Two planes: the right disparity that is the left one carried into the right view is
    # consistent; a right disparity at half the value is not.
    w = 32
    d_l = torch.full((1, 1, 4, w), 3.0 / w, dtype=torch.float64)
    d_l[..., w // 2:] = 5.0 / w
    consistent = lr_consistency_loss(d_l, reconstruct_right(d_l, d_l)).item()
    assert consistent < 0.25 * lr_consistency_loss(d_l, d_l * 0.5).item()


def test_smoothness_known_value():
    disp = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]], dtype=torch.float64)
    flat = torch.zeros(1, 3, 2, 2, dtype=torch.float64)
    # dx: |0-1| = 1 in both rows, no image edge -> mean 1; dy: 0.
    assert smoothness_loss(disp, flat).item() == pytest.approx(1.0)
    edge = flat.clone()
    edge[..., 1] = 1.0                  # an image edge exactly where the disparity jumps
    assert smoothness_loss(disp, edge).item() == pytest.approx(torch.exp(torch.tensor(-1.0)))


def test_smoothness_matches_kornia_oracle():
    disp, img = _rand(2, 1, 7, 9, seed=1), _rand(2, 3, 7, 9, seed=2)
    oracle = kornia.losses.inverse_depth_smoothness_loss(disp, img)
    assert smoothness_loss(disp, img).item() == pytest.approx(oracle.item(), rel=1e-10)


def test_scale_pyramid_averages_areas():
    img = _rand(1, 3, 16, 32)
    levels = scale_pyramid(img, 4)
    assert [tuple(t.shape[-2:]) for t in levels] == [(16, 32), (8, 16), (4, 8), (2, 4)]
    assert levels[3].mean().item() == pytest.approx(img.mean().item())


def _disp(seed):
    return (0.1 + 0.2 * _rand(1, 1, 5, 6, seed=seed)).requires_grad_()


@pytest.mark.parametrize('fn,inputs', [
    (appearance_loss, lambda: (_rand(1, 3, 5, 6, seed=3).requires_grad_(),
                               _rand(1, 3, 5, 6, seed=4).requires_grad_())),
    (lr_consistency_loss, lambda: (_disp(5), _disp(6))),
    (smoothness_loss, lambda: (_disp(7), _rand(1, 3, 5, 6, seed=8).requires_grad_())),
])
def test_gradcheck_float64(fn, inputs):
    assert torch.autograd.gradcheck(fn, inputs(), eps=1e-6, atol=1e-5)
