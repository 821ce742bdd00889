# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Zoom augmentation: known values, geometry that still holds, and its config checks."""

from conftest import kitti_image
import pytest
from sorghum_depth_training.data.loader import augment_batch, zoom_batch
from sorghum_depth_training.loop.config import AugmentConfig, ConfigError, load_config
from sorghum_depth_training.objectives.losses import appearance_map
from sorghum_depth_training.objectives.warp import reconstruct_left
import torch
import torch.nn.functional as F


def test_zoom_by_two_on_a_quadrant_is_a_bilinear_upsampling_and_scales_the_hints():
    views, hints = torch.rand(1, 3, 8, 16), torch.rand(1, 2, 8, 16)
    crop = torch.tensor([[2.0, -0.5, -0.5]])            # the top-left quarter
    left, right, zoomed = zoom_batch(views, views.clone(), hints, crop)
    upsampled = F.interpolate(views[..., :4, :8], scale_factor=2, mode='bilinear',
                              align_corners=False)
    # inside, the same; at the crop's edge the zoom also sees the pixels beyond it
    assert torch.allclose(left[..., 1:-1, 1:-1], upsampled[..., 1:-1, 1:-1], atol=1e-6)
    assert torch.equal(left, right)
    assert torch.allclose(zoomed[..., ::2, ::2], 2 * hints[..., :4, :8])


def test_factor_one_changes_nothing_and_missing_hints_stay_missing():
    views = torch.rand(2, 3, 8, 16)
    hints = torch.rand(2, 2, 8, 16) * (torch.rand(2, 2, 8, 16) > 0.5)
    left, _, same = zoom_batch(views, views, hints, torch.tensor([[1.0, 0, 0]] * 2))
    assert torch.allclose(left, views, atol=1e-6) and torch.equal(same, hints)
    _, _, zoomed = zoom_batch(views, views, hints, torch.tensor([[1.6, 0.2, -0.3]] * 2))
    assert bool(((zoomed == 0) | (zoomed >= hints[hints > 0].min())).all())


def _kitti_pair(h=96, w=320, shift_px=6):
    left = kitti_image(h, w)
    right = torch.roll(left, -shift_px, dims=-1)           # left(x) = right(x - shift)
    return left, right, torch.full((1, 2, h, w), shift_px / w)


def test_the_zoomed_hint_rebuilds_the_zoomed_view_and_the_unscaled_one_does_not():
    left, right, hints = _kitti_pair()
    left, right, zoomed = zoom_batch(left, right, hints, torch.tensor([[1.5, 0.1, 0.0]]))
    inner = (..., slice(8, -8), slice(24, -24))          # away from the rolled border

    def error(disp):
        return float(appearance_map(reconstruct_left(right, disp[:, :1]), left, 0.85)[inner]
                     .mean())
    assert error(zoomed) < 0.3 * error(hints)


def test_augment_batch_zooms_when_asked_with_the_same_seed():
    views, hints = torch.rand(4, 3, 8, 16), torch.rand(4, 2, 8, 16)
    off = AugmentConfig(zoom_prob=0.0)
    on = AugmentConfig(zoom_prob=1.0, zoom=(1.2, 1.4))
    base = augment_batch(views, views.flip(-1), off, torch.Generator().manual_seed(3), hints)
    zoomed = augment_batch(views, views.flip(-1), on, torch.Generator().manual_seed(3), hints)
    assert not torch.allclose(base[0], zoomed[0])
    assert float(zoomed[2].mean()) > 1.15 * float(base[2].mean())


@pytest.mark.parametrize('override', ['augment.zoom=[0.5,1.0]', 'augment.zoom=[1.3,1.1]',
                                      'augment.zoom_prob=1.5'])
def test_bad_zoom_settings_are_config_errors(override, repo_root):
    with pytest.raises(ConfigError, match='augment.zoom'):
        load_config(repo_root / 'config' / 'train.yaml', [override])
