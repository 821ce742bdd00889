# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The named loss dict: composition of terms, D loss formula, GAN off, perfect pairs."""

import pytest
from sorghum_depth_training.discriminator import DiscriminatorConfig, PatchDiscriminator
from sorghum_depth_training.objective import (compute_losses, discriminator_losses,
                                              LossConfig, reconstruct_views)
from sorghum_depth_training.warp import reconstruct_left
import torch

KEYS = {'appearance', 'lr_consistency', 'smoothness', 'gan_g', 'generator',
        'disc_real', 'disc_fake', 'discriminator', 'total', 'hint'}


def _batch(seed=0, h=64, w=64):
    g = torch.Generator().manual_seed(seed)
    left, right = torch.rand(2, 3, h, w, generator=g), torch.rand(2, 3, h, w, generator=g)
    disps = [0.3 * torch.rand(2, 2, h // 2 ** s, w // 2 ** s, generator=g) for s in range(4)]
    return left, right, disps


def _disc(conditional=False):
    torch.manual_seed(0)
    return PatchDiscriminator(DiscriminatorConfig(base_channels=8, conditional=conditional))


@pytest.mark.parametrize('conditional', [False, True])
def test_loss_dict_names_and_composition(conditional):
    cfg = LossConfig(w_appearance=1.5, w_lr=0.7, w_smooth=0.2, w_gan=0.3)
    losses = compute_losses(*_batch(), _disc(conditional), cfg)
    assert set(losses) == KEYS
    expected = (1.5 * losses['appearance'] + 0.7 * losses['lr_consistency']
                + 0.2 * losses['smoothness'] + 0.3 * losses['gan_g'])
    assert losses['generator'].item() == pytest.approx(expected.item(), rel=1e-6)
    assert losses['discriminator'].item() == pytest.approx(
        0.5 * (losses['disc_real'] + losses['disc_fake']).item(), rel=1e-6)
    assert losses['total'].item() == pytest.approx(
        (losses['generator'] + losses['discriminator']).item(), rel=1e-6)


def test_gan_off_has_no_adversarial_or_discriminator_term():
    losses = compute_losses(*_batch(), _disc(), LossConfig(w_gan=0.0))
    assert losses['gan_g'].item() == 0.0 and losses['discriminator'].item() == 0.0
    assert 'disc_real' not in losses


def test_discriminator_loss_does_not_reach_the_generator():
    left, right, disps = _batch()
    disps = [d.requires_grad_() for d in disps]
    fakes = reconstruct_views(left, right, disps[0])
    discriminator_losses(_disc(), left, right, fakes, LossConfig())['discriminator'].backward()
    assert disps[0].grad is None


def test_appearance_is_small_for_a_true_pair_and_large_for_a_wrong_one():
    torch.manual_seed(0)
    h, w, d_px = 64, 128, 6
    right = torch.nn.functional.interpolate(torch.rand(1, 3, h // 4, w // 4), (h, w),
                                            mode='bilinear', align_corners=False)
    disp_true = torch.full((1, 1, h, w), d_px / w)
    left = reconstruct_left(right, disp_true)
    disps = [torch.cat((disp_true, disp_true), 1)]
    good = compute_losses(left, right, disps, None, LossConfig())['appearance'].item()
    bad = compute_losses(left, right, [torch.zeros_like(disps[0])], None,
                         LossConfig())['appearance'].item()
    assert good < 0.25 * bad
