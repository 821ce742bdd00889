# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Horizontal bilinear warping of rectified stereo views.

Conventions (used everywhere in the project):

* Pixel centres: column ``i`` of a W-wide image has its centre at ``x = i`` pixels,
  which is ``(2 i + 1) / W - 1`` in the normalised coordinates of ``grid_sample`` with
  ``align_corners=False``. A shift of ``s`` pixels is ``2 s / W`` normalised units.
* Disparity is positive, as a fraction of the width: a scene point at column ``x`` in
  the left image is at ``x - d_left(x) * W`` in the right image, and a point at ``x`` in
  the right image is at ``x + d_right(x) * W`` in the left image.
* Border: samples that fall outside the source image take the value of the nearest
  border column (``padding_mode='border'``), as monodepth's sampler does. Only rows are
  resampled; the vertical coordinate is exact.
"""

import torch
import torch.nn.functional as F


def _base_grid(b: int, h: int, w: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    xs = torch.linspace(-1.0 + 1.0 / w, 1.0 - 1.0 / w, w, dtype=like.dtype, device=like.device)
    ys = torch.linspace(-1.0 + 1.0 / h, 1.0 - 1.0 / h, h, dtype=like.dtype, device=like.device)
    return xs.view(1, 1, w).expand(b, h, w), ys.view(1, h, 1).expand(b, h, w)


def warp_horizontal(image: torch.Tensor, offset_frac: torch.Tensor) -> torch.Tensor:
    """
    Sample ``image`` at ``x + offset_frac(x) * W`` along each row (bilinear).

    :param image: (B, C, H, W) source view.
    :param offset_frac: (B, 1, H, W) horizontal offset as a fraction of the width W.

    :returns: (B, C, H, W) resampled image, differentiable in both inputs.
    """
    b, _, h, w = image.shape
    if offset_frac.shape != (b, 1, h, w):
        raise ValueError(f'offset_frac must be {(b, 1, h, w)}, got {tuple(offset_frac.shape)}')
    grid_x, grid_y = _base_grid(b, h, w, image)
    grid = torch.stack((grid_x + 2.0 * offset_frac[:, 0], grid_y), dim=-1)
    return F.grid_sample(image, grid, mode='bilinear', padding_mode='border',
                         align_corners=False)


def reconstruct_left(right: torch.Tensor, disp_left: torch.Tensor) -> torch.Tensor:
    """Left view rebuilt from the right one: ``left(x) = right(x - d_left(x) W)``."""
    return warp_horizontal(right, -disp_left)


def reconstruct_right(left: torch.Tensor, disp_right: torch.Tensor) -> torch.Tensor:
    """Right view rebuilt from the left one: ``right(x) = left(x + d_right(x) W)``."""
    return warp_horizontal(left, disp_right)
