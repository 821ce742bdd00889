# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""PatchGAN: layer plan, patch grid, 70x70 receptive field, GAN loss known values."""

import math

import pytest
from sorghum_depth_training.nets.discriminator import (DiscriminatorConfig, GANLoss,
                                                       PatchDiscriminator)
import torch
from torch import nn


def test_layer_plan_is_c64_c128_c256_c512_with_logits_out():
    disc = PatchDiscriminator()
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert all(c.kernel_size == (4, 4) for c in convs)
    relus = [m for m in disc.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(relus) == 4 and all(r.negative_slope == 0.2 for r in relus)
    assert not isinstance(list(disc.net)[-1], (nn.Sigmoid, nn.LeakyReLU))


def test_256_input_gives_the_pix2pix_30x30_patch_grid():
    with torch.no_grad():
        assert PatchDiscriminator()(torch.rand(1, 3, 256, 256)).shape == (1, 1, 30, 30)


def test_receptive_field_is_70x70():
    disc = PatchDiscriminator(DiscriminatorConfig(base_channels=8, norm='none'))
    with torch.no_grad():     # make every weight positive so no gradient cancels by chance
        for p in disc.parameters():
            p.copy_(p.abs() + 1e-3)
    img = torch.rand(1, 3, 160, 160, requires_grad=True)
    out = disc(img)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    support = img.grad.abs().sum(dim=(0, 1)) > 0
    rows, cols = support.any(1).nonzero(), support.any(0).nonzero()
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (70, 70)


def test_conditional_discriminator_takes_both_views():
    disc = PatchDiscriminator(DiscriminatorConfig(base_channels=8, conditional=True))
    assert disc(torch.rand(2, 6, 64, 64)).shape == (2, 1, 6, 6)
    with pytest.raises(RuntimeError):
        disc(torch.rand(2, 3, 64, 64))


def test_gan_loss_known_values():
    zeros = torch.zeros(2, 1, 3, 3)
    assert GANLoss('vanilla')(zeros, True).item() == pytest.approx(math.log(2))
    assert GANLoss('lsgan')(zeros, True).item() == pytest.approx(1.0)
    assert GANLoss('lsgan')(zeros, False).item() == 0.0
    big = torch.full((1, 1, 2, 2), 20.0)
    assert GANLoss('vanilla')(big, True).item() < 1e-8
    assert GANLoss('vanilla')(big, False).item() == pytest.approx(20.0, rel=1e-6)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match='gan mode'):
        GANLoss('wgan')
    with pytest.raises(ValueError, match='norm'):
        DiscriminatorConfig(norm='batch')
