# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Camera corruptions (grey, blur, input noise): known values, pair geometry, config checks."""

from conftest import kitti_image
import pytest
from sorghum_depth_training.data.loader import augment_batch
from sorghum_depth_training.data.sensor_augment import blur, grey, input_noise, sensor_batch
from sorghum_depth_training.loop.config import AugmentConfig, ConfigError, load_config
from sorghum_depth_training.loop.step import StepModels, train_step
from sorghum_depth_training.nets.generator import Generator
from sorghum_depth_training.objectives.depth import LossConfig
from sorghum_depth_training.objectives.losses import appearance_map
from sorghum_depth_training.objectives.warp import reconstruct_left
from tiny_model import TINY
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
    out = sensor_batch(left, right, 0.0, 0.0, (0.5, 1.5), gen)
    assert out[0] is left and out[1] is right
    assert input_noise(left, 0.0, gen) is None
    assert torch.equal(torch.rand(4, generator=gen),
                       torch.rand(4, generator=torch.Generator().manual_seed(5)))


def test_input_noise_stays_within_its_largest_std_and_leaves_the_image_alone():
    image = torch.full((64, 3, 16, 16), 0.5)
    noisy = input_noise(image, 0.05, torch.Generator().manual_seed(0))
    std = (noisy - 0.5).flatten(1).std(1)
    assert float(std.max()) < 0.055 and float(std.mean()) > 0.015   # uniform in [0, 0.05]
    assert torch.equal(image, torch.full_like(image, 0.5))


def test_the_generator_sees_the_noisy_input_and_the_losses_the_clean_views():
    torch.manual_seed(0)
    left = torch.rand(2, 3, 64, 64)
    right = torch.roll(left, -2, dims=-1)

    def losses(net_input):
        gen = Generator(TINY)
        gen.load_state_dict(state)
        models = StepModels(gen, None, torch.optim.SGD(gen.parameters(), lr=0.0), None)
        return train_step(models, left, right, LossConfig(w_gan=0.0), net_input=net_input)
    state = Generator(TINY).state_dict()
    assert losses(None) == losses(left.clone())
    noisy = losses(input_noise(left, 0.2, torch.Generator().manual_seed(1)))
    assert noisy['generator'] != losses(None)['generator']


def _kitti_pair(h=96, w=320, shift_px=6):
    left = kitti_image(h, w) * torch.tensor([1.0, 0.7, 0.4]).view(1, 3, 1, 1)   # make it colour
    return left, torch.roll(left, -shift_px, dims=-1), shift_px / w


def test_grey_and_blur_keep_the_pair_a_stereo_pair():
    left, right, disp = _kitti_pair()
    out_l, out_r = sensor_batch(left, right, 1.0, 1.0, (1.2, 1.2),
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
