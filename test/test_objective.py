# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The named loss dict: composition of terms, D loss formula, GAN off, perfect pairs."""

import pytest
from sorghum_depth_training.nets.discriminator import DiscriminatorConfig, PatchDiscriminator
from sorghum_depth_training.objectives.depth import (compute_losses, discriminator_losses,
                                                     LossConfig, reconstruct_views)
from sorghum_depth_training.objectives.losses import (appearance_map, lr_consistency_loss,
                                                      scale_pyramid, smoothness_loss)
from sorghum_depth_training.objectives.warp import reconstruct_left, reconstruct_right
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


def _by_scale(left, right, disps):
    """Yield (scale, left, right, d_left, d_right) with the images at each scale."""
    lefts, rights = scale_pyramid(left, len(disps)), scale_pyramid(right, len(disps))
    for s, (disp, img_l, img_r) in enumerate(zip(disps, lefts, rights)):
        yield s, img_l, img_r, disp[:, :1], disp[:, 1:]


def test_monodepth_terms_sum_every_scale_with_the_right_views_and_factors():
    # Oracle from the loss functions: channel 0 is the LEFT disparity (warps the right view
    # into the left one, smoothed along the left image), channel 1 the right; every scale
    # counts; smoothness is divided by 2^s; appearance is 2 x the mean of both views.
    left, right, disps = _batch(seed=3)
    losses = compute_losses(left, right, disps, None, LossConfig(w_hint=0.0))
    appearance = lr = smooth = 0.0
    for s, img_l, img_r, d_l, d_r in _by_scale(left, right, disps):
        err = torch.cat((appearance_map(reconstruct_left(img_r, d_l), img_l),
                         appearance_map(reconstruct_right(img_l, d_r), img_r)), dim=1)
        appearance += 2 * err.mean().item()
        lr += lr_consistency_loss(d_l, d_r).item()
        smooth += (smoothness_loss(d_l, img_l) + smoothness_loss(d_r, img_r)).item() / 2 ** s
    assert losses['appearance'].item() == pytest.approx(appearance, rel=1e-5)
    assert losses['lr_consistency'].item() == pytest.approx(lr, rel=1e-5)
    assert losses['smoothness'].item() == pytest.approx(smooth, rel=1e-5)


@pytest.mark.parametrize('conditional', [False, True])
def test_discriminator_and_generator_use_the_right_labels_and_views(conditional):
    # LSGAN: D wants 1 on real views and 0 on fakes; G wants 1 on fakes. The real views are
    # (left | right) and (right | left) when conditional: each view beside the OTHER one.
    left, right, disps = _batch(seed=4)
    disc = _disc(conditional)
    fakes = reconstruct_views(left, right, disps[0])

    def views(view_l, view_r):
        if conditional:
            return torch.cat((torch.cat((view_l, right), 1), torch.cat((view_r, left), 1)))
        return torch.cat((view_l, view_r))
    with torch.no_grad():
        real_logits, fake_logits = disc(views(left, right)), disc(views(*fakes))
        losses = compute_losses(left, right, disps, disc, LossConfig(w_gan=1.0))
    assert (real_logits - fake_logits).abs().max() > 1e-3, 'real and fake must differ'
    assert losses['disc_real'].item() == pytest.approx(((real_logits - 1) ** 2).mean().item(),
                                                       rel=1e-5)
    assert losses['disc_fake'].item() == pytest.approx((fake_logits ** 2).mean().item(),
                                                       rel=1e-5)
    assert losses['gan_g'].item() == pytest.approx(((fake_logits - 1) ** 2).mean().item(),
                                                   rel=1e-5)
