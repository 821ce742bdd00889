# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Camera corruptions (grey, blur, noise): known values, pair geometry kept, config checks."""

from conftest import shared_data
import cv2
import pytest
from sorghum_depth_training.data.loader import augment_batch
from sorghum_depth_training.data.sensor_augment import blur, grey, sensor_batch
from sorghum_depth_training.loop.config import AugmentConfig, ConfigError, load_config
from sorghum_depth_training.objectives.losses import appearance_map
from sorghum_depth_training.objectives.warp import reconstruct_left
import torch


def test_grey_is_the_luma_of_each_pixel_in_every_channel():
    image = torch.zeros(1, 3, 2, 2)
    image[0, 0, 0, 0], image[0, 1, 0, 1], image[0, 2, 1, 0] = 1.0, 1.0, 1.0
    out = grey(image)
    expected = torch.tensor([[0.299, 0.587], [0.114, 0.0]])
    for c in range(3):
        assert torch.allclose(out[0, c], expected, atol=1e-6)


def test_blur_spreads_a_point_as_a_normalised_gaussian_and_width_zero_is_identity():
    image = torch.zeros(2, 1, 21, 21)
    image[:, :, 10, 10] = 1.0
    out = blur(image, torch.tensor([1.0, 0.0]))
    assert torch.equal(out[1], image[1])
    assert abs(float(out[0].sum()) - 1.0) < 1e-5
    # separable Gaussian of sigma 1: the neighbour along a row is exp(-1/2) of the centre
    assert abs(float(out[0, 0, 10, 11] / out[0, 0, 10, 10]) - float(torch.exp(torch.tensor(
        -0.5)))) < 1e-4
    flat = blur(torch.full((1, 3, 9, 9), 0.4), torch.tensor([1.5]))
    assert torch.allclose(flat, torch.full_like(flat, 0.4), atol=1e-6)   # borders replicated


def test_every_chance_zero_returns_the_views_and_draws_nothing():
    left, right = torch.rand(3, 3, 8, 16), torch.rand(3, 3, 8, 16)
    gen = torch.Generator().manual_seed(5)
    out = sensor_batch(left, right, 0.0, 0.0, (0.5, 1.5), 0.0, gen)
    assert out[0] is left and out[1] is right
    assert torch.equal(torch.rand(4, generator=gen),
                       torch.rand(4, generator=torch.Generator().manual_seed(5)))


def test_noise_is_drawn_per_view_within_its_largest_std():
    left = torch.full((64, 3, 16, 16), 0.5)
    out_l, out_r = sensor_batch(left, left.clone(), 0.0, 0.0, (0.5, 1.5), 0.05,
                                torch.Generator().manual_seed(0))
    std = (out_l - 0.5).flatten(1).std(1)
    assert float(std.max()) < 0.055 and float(std.mean()) > 0.015   # uniform in [0, 0.05]
    assert not torch.allclose(out_l, out_r)
    diff = (out_l - out_r).flatten(1).std(1) / std
    assert abs(float(diff.median()) - 2 ** 0.5) < 0.1               # independent per view


def _kitti_pair(h=96, w=320, shift_px=6):
    path = shared_data('kitti_odometry', 'seq1', 'image_l', '000000.png')
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    left = torch.from_numpy(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
                            ).permute(2, 0, 1)[None].float() / 255.0
    left = left * torch.tensor([1.0, 0.7, 0.4]).view(1, 3, 1, 1)   # make it colour
    return left, torch.roll(left, -shift_px, dims=-1), shift_px / w


def test_grey_and_blur_keep_the_pair_a_stereo_pair():
    left, right, disp = _kitti_pair()
    out_l, out_r = sensor_batch(left, right, 1.0, 1.0, (1.2, 1.2), 0.0,
                                torch.Generator().manual_seed(1))
    assert torch.allclose(out_l[:, 0], out_l[:, 2]) and not torch.allclose(left, out_l)
    inner = (..., slice(8, -8), slice(24, -24))             # away from the rolled border
    flow = torch.full_like(out_l[:, :1], disp)
    rebuilt = reconstruct_left(out_r, flow)
    assert float(appearance_map(rebuilt, out_l, 0.85)[inner].mean()) < 1e-3


def test_augment_batch_applies_the_corruptions_when_asked():
    views = torch.rand(4, 3, 8, 16)
    off = augment_batch(views, views.flip(-1), AugmentConfig(), torch.Generator().manual_seed(2))
    on = augment_batch(views, views.flip(-1), AugmentConfig(grey_prob=1.0),
                       torch.Generator().manual_seed(2))
    assert not torch.allclose(off[0][:, 0], off[0][:, 1])
    assert torch.allclose(on[0][:, 0], on[0][:, 1]) and torch.allclose(on[1][:, 1], on[1][:, 2])


@pytest.mark.parametrize('override', ['augment.blur_sigma=[1.5,0.5]', 'augment.blur_sigma=[0,1]',
                                      'augment.noise_std=2', 'augment.grey_prob=-0.1',
                                      'augment.blur_prob=1.5'])
def test_bad_corruption_settings_are_config_errors(override, repo_root):
    key = override.split('=')[0]
    with pytest.raises(ConfigError, match=key):
        load_config(repo_root / 'config' / 'train.yaml', [override])
