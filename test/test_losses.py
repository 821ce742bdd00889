# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Loss terms: known values on tiny tensors, zero for perfect input, oracle, gradcheck."""

import kornia
import numpy as np
import pytest
from sorghum_depth_training.objectives.losses import (appearance_loss, lr_consistency_loss,
                                                      scale_pyramid, smoothness_loss, SSIM_C1,
                                                      SSIM_C2, ssim_dissimilarity)
from sorghum_depth_training.objectives.warp import reconstruct_right, warp_horizontal
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


def _ssim_numpy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Oracle: (1 - SSIM) / 2 window by window, 3x3 reflected windows, population moments."""
    xp, yp = np.pad(x, 1, mode='reflect'), np.pad(y, 1, mode='reflect')
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            a, b = xp[i:i + 3, j:j + 3].ravel(), yp[i:i + 3, j:j + 3].ravel()
            mu_a, mu_b = a.mean(), b.mean()
            var_a, var_b = a.var(), b.var()
            cov = np.mean((a - mu_a) * (b - mu_b))
            ssim = ((2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
                    / ((mu_a ** 2 + mu_b ** 2 + SSIM_C1) * (var_a + var_b + SSIM_C2)))
            out[i, j] = np.clip((1 - ssim) / 2, 0.0, 1.0)
    return out


def test_ssim_matches_a_numpy_oracle_on_textured_images():
    # Textured images: every window has its own variance and a covariance of either sign
    # (y is partly x, partly its negative, partly noise), so all SSIM terms matter.
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 1.0, (7, 9))
    y = np.clip(0.5 * x + 0.3 * rng.uniform(0.0, 1.0, (7, 9)), 0.0, 1.0)
    y[:, 5:] = 1.0 - x[:, 5:]
    got = ssim_dissimilarity(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None])
    oracle = _ssim_numpy(x, y)
    assert oracle.std() > 0.05, 'the oracle must see varied windows'
    np.testing.assert_allclose(got[0, 0].numpy(), oracle, rtol=1e-10, atol=1e-12)


def test_ssim_known_value_for_an_affine_pair():
    # y = 2 x + 0.1 on a window: var_y = 4 var_x, cov = 2 var_x; checked at the centre
    # pixel of a 3x3 image, whose window needs no padding.
    x = torch.tensor([[[[0.1, 0.4, 0.2], [0.3, 0.0, 0.35], [0.15, 0.25, 0.05]]]],
                     dtype=torch.float64)
    y = 2 * x + 0.1
    mu_x, var_x = x.mean().item(), x.var(unbiased=False).item()
    mu_y = 2 * mu_x + 0.1
    ssim = ((2 * mu_x * mu_y + SSIM_C1) * (4 * var_x + SSIM_C2)
            / ((mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (5 * var_x + SSIM_C2)))
    got = ssim_dissimilarity(x, y)[0, 0, 1, 1].item()
    assert got == pytest.approx((1 - ssim) / 2, rel=1e-12)


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


def _slanted_plane(w: int, h: int = 4):
    """
    Return the left and right disparity (fraction of width) of one slanted plane, exact.

    ``d_l(x) = a + b x``. The point at left column x is at right column
    ``x_r = x - W d_l(x)``, so ``d_r(x_r) = a + b (x_r + W a) / (1 - W b)``.
    """
    a, b = 3.0 / w, 0.08 / w
    cols = torch.arange(w, dtype=torch.float64)
    d_l = (a + b * cols).expand(1, 1, h, w).clone()
    d_r = (a + b * (cols + w * a) / (1 - w * b)).expand(1, 1, h, w).clone()
    return d_l, d_r


def test_lr_consistency_is_zero_for_a_slanted_plane_and_fails_a_flipped_warp():
    # A slanted plane has left and right disparities that differ per column, so a warp
    # in the wrong direction (sign flipped) or with the views swapped cannot match them.
    w = 64
    d_l, d_r = _slanted_plane(w)
    inner = slice(0, w - 9)             # the right border samples outside the image
    assert (reconstruct_right(d_l, d_r) - d_r)[..., inner].abs().max() < 1e-9
    consistent = lr_consistency_loss(d_l, d_r).item()   # only the border columns differ
    flipped = ((d_l - warp_horizontal(d_r, d_l)).abs().mean()     # d_r read at x + d_l W
               + (d_r - warp_horizontal(d_l, -d_r)).abs().mean()).item()
    assert consistent < 2e-3
    assert flipped > 10 * consistent
    assert lr_consistency_loss(d_r, d_l).item() > 10 * consistent     # views swapped


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
