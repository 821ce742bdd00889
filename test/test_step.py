# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Train step: D then G, D frozen for G, GAN off, and real learning on a real image."""

from conftest import shared_data
import cv2
import numpy as np
import pytest
from sorghum_depth_training.loop.step import StepModels, train_step
from sorghum_depth_training.nets.discriminator import DiscriminatorConfig, PatchDiscriminator
from sorghum_depth_training.nets.generator import Generator, GeneratorConfig
from sorghum_depth_training.objectives.depth import (discriminator_losses, LossConfig,
                                                     reconstruct_views)
from sorghum_depth_training.objectives.warp import reconstruct_right
import torch

SMALL = GeneratorConfig(enc_channels=(8, 16, 32, 32, 64, 64), dec_channels=(8, 16, 16, 32, 32, 64))


def _models(d_lr=1e-4, seed=0):
    torch.manual_seed(seed)
    gen = Generator(SMALL)
    disc = PatchDiscriminator(DiscriminatorConfig(base_channels=16))
    return StepModels(gen, disc, torch.optim.Adam(gen.parameters(), 1e-3),
                      torch.optim.Adam(disc.parameters(), d_lr))


def _pair(h=64, w=128):
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 3, h, w, generator=g), torch.rand(2, 3, h, w, generator=g)


def test_step_updates_both_networks_and_reports_named_losses():
    m = _models()
    g0 = [p.clone() for p in m.generator.parameters()]
    d0 = [p.clone() for p in m.discriminator.parameters()]
    out = train_step(m, *_pair(), LossConfig(w_gan=0.1))
    assert out['total'] == pytest.approx(out['generator'] + out['discriminator'])
    assert all(np.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, m.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, m.discriminator.parameters()))
    assert all(p.requires_grad for p in m.discriminator.parameters())


def test_generator_update_leaves_discriminator_gradients_alone():
    # The discriminator's gradients after a step must be those of its own loss only:
    # had it not been frozen, the generator's adversarial backward would add to them.
    m = _models(d_lr=0.0)
    left, right = _pair()
    cfg = LossConfig(w_gan=1.0)
    with torch.no_grad():
        fakes = reconstruct_views(left, right, m.generator(left)[0])
    ref = _models(d_lr=0.0).discriminator
    discriminator_losses(ref, left, right, fakes, cfg)['discriminator'].backward()
    train_step(m, left, right, cfg)
    for p, q in zip(m.discriminator.parameters(), ref.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6)


def test_gan_off_never_touches_the_discriminator():
    m = _models()
    d0 = [p.clone() for p in m.discriminator.parameters()]
    out = train_step(m, *_pair(), LossConfig(w_gan=0.0))
    assert out['discriminator'] == 0.0 and out['gan_g'] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(d0, m.discriminator.parameters()))
    assert all(p.grad is None for p in m.discriminator.parameters())


def _real_stereo_pair(h=64, w=192):
    """Make a real KITTI left image and its right view for a known ground-plane disparity."""
    path = shared_data('kitti_odometry', 'seq1', 'image_l', '000000.png')
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    left = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
    disp_px = torch.linspace(4.0, 16.0, h).view(1, 1, h, 1).expand(1, 1, h, w)
    return left, reconstruct_right(left, disp_px / w), disp_px


@pytest.mark.slow
def test_training_on_a_real_pair_halves_the_loss_and_finds_the_disparity():
    """250 CPU steps (about 12 s). Measured: 7.0 px -> 0.10 px, appearance 1.82 -> 0.15."""
    left, right, disp_px = _real_stereo_pair()
    m, cfg, margin = _models(), LossConfig(w_gan=0.01), 16

    def disp_error_px():
        with torch.no_grad():
            pred = m.generator(left)[0][:, :1] * left.shape[-1]
        return float((pred - disp_px)[..., margin:-margin].abs().mean())

    err0 = disp_error_px()
    first = train_step(m, left, right, cfg)['appearance']
    for _ in range(249):
        last = train_step(m, left, right, cfg)['appearance']
    err = disp_error_px()
    assert last <= 0.5 * first, (first, last)
    assert err < 0.25 * err0 and err < 1.0, (err0, err)
