# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The translation objective, step order, translator and metrics on known values."""

import math

import numpy as np
import pytest
from sorghum_depth_training.evaluation.translate_metrics import (boundary_fscore, mask_iou,
                                                                 psnr, ssim)
from sorghum_depth_training.loop.step import StepModels, translate_step
from sorghum_depth_training.nets.discriminator import DiscriminatorConfig, PatchDiscriminator
from sorghum_depth_training.nets.translator import LogitsView, Translator, TranslatorConfig
from sorghum_depth_training.objectives.translate import (discriminator_losses,
                                                         generator_losses, pair,
                                                         reconstruction_loss,
                                                         TranslateLossConfig)
import torch
from torch import nn
import torch.nn.functional as F


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


class TargetReader(nn.Module):
    """A real discriminator that reads the target channel: logit = 10 * b01 - 5."""

    def __init__(self, in_channels: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 1, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, in_channels - 1] = 10.0
            self.conv.bias.fill_(-5.0)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.conv(x)


def _batch(channels_b: int = 1):
    a = torch.rand(2, 3, 8, 8) * 2 - 1
    real = torch.ones(2, channels_b, 8, 8)          # real targets: all 1 (stalk)
    fake = -torch.ones(2, channels_b, 8, 8)         # fake outputs: all -1
    return a, real, fake


def test_discriminator_labels_real_pairs_real_and_fake_pairs_fake():
    a, real, fake = _batch()
    cfg = TranslateLossConfig(gan_mode='vanilla')
    losses = discriminator_losses(TargetReader(), a, real, fake, cfg)
    # real pair -> logit +5 with label 1; fake pair -> logit -5 with label 0
    assert float(losses['disc_real']) == pytest.approx(_softplus(-5.0), rel=1e-5)
    assert float(losses['disc_fake']) == pytest.approx(_softplus(-5.0), rel=1e-5)
    assert float(losses['discriminator']) == pytest.approx(_softplus(-5.0), rel=1e-5)
    swapped = discriminator_losses(TargetReader(), a, fake, real, cfg)
    assert float(swapped['discriminator']) == pytest.approx(_softplus(5.0), rel=1e-5)


def test_lsgan_mode_uses_squared_error_to_the_labels():
    a, real, fake = _batch()
    losses = discriminator_losses(TargetReader(), a, real, fake,
                                  TranslateLossConfig(gan_mode='lsgan'))
    assert float(losses['disc_real']) == pytest.approx(16.0)      # (5 - 1)^2
    assert float(losses['disc_fake']) == pytest.approx(25.0)      # (-5 - 0)^2


@pytest.mark.parametrize('channels_b', [1, 3])
def test_discriminator_sees_cat_input_output_real_then_detached_fake(channels_b):
    a, real, fake = _batch(channels_b)
    disc = TargetReader(3 + channels_b)
    fake = fake.clone().requires_grad_(True)
    discriminator_losses(disc, a, real, fake, TranslateLossConfig())
    (seen,) = disc.seen
    assert seen.shape == (4, 3 + channels_b, 8, 8)
    assert torch.allclose(seen[:2], torch.cat((a, real), 1) * 0.5 + 0.5)
    assert torch.allclose(seen[2:], torch.cat((a, fake.detach()), 1) * 0.5 + 0.5)


def test_discriminator_loss_does_not_reach_the_generator():
    gen = Translator(TranslatorConfig(base_channels=4, dropout=0.0))
    a = torch.rand(2, 3, 32, 32) * 2 - 1
    disc = PatchDiscriminator(DiscriminatorConfig(base_channels=4), in_channels=4)
    losses = discriminator_losses(disc, a, torch.ones(2, 1, 32, 32), gen(a),
                                  TranslateLossConfig())
    losses['discriminator'].backward()
    assert all(p.grad is None for p in gen.parameters())
    assert all(p.grad is not None for p in disc.parameters())


def test_perfect_output_leaves_the_gan_term_only():
    a = torch.rand(2, 3, 8, 8) * 2 - 1
    logits = torch.randn(2, 1, 8, 8)
    target = torch.tanh(logits)            # the output equals the target exactly
    losses = generator_losses(a, target, logits, TargetReader(), TranslateLossConfig())
    assert float(losses['gen_rec']) == pytest.approx(0.0, abs=1e-7)
    assert float(losses['generator']) == pytest.approx(float(losses['gen_gan']), rel=1e-6)
    expected = F.softplus(-(10 * (target * 0.5 + 0.5) - 5)).mean()   # label real
    assert float(losses['gen_gan']) == pytest.approx(float(expected), rel=1e-5)


def test_lambda_scales_the_l1_term_exactly():
    a = torch.rand(2, 3, 8, 8) * 2 - 1
    logits, target = torch.randn(2, 3, 8, 8), torch.rand(2, 3, 8, 8) * 2 - 1
    l1 = float((torch.tanh(logits) - target).abs().mean())
    disc = TargetReader(6)
    results = {lam: generator_losses(a, target, logits, disc,
                                     TranslateLossConfig(lambda_rec=lam))
               for lam in (0.0, 1.0, 100.0)}
    assert float(results[0.0]['generator']) == pytest.approx(float(results[0.0]['gen_gan']))
    for lam in (1.0, 100.0):
        extra = float(results[lam]['generator']) - float(results[0.0]['generator'])
        assert extra == pytest.approx(lam * l1, rel=1e-5)
    assert TranslateLossConfig().lambda_rec == 100.0


def test_gan_weight_zero_is_l1_alone_without_a_discriminator():
    a = torch.rand(1, 3, 8, 8) * 2 - 1
    logits, target = torch.randn(1, 1, 8, 8), torch.rand(1, 1, 8, 8) * 2 - 1
    disc = TargetReader()
    losses = generator_losses(a, target, logits, disc, TranslateLossConfig(gan_weight=0.0))
    assert not disc.seen
    assert float(losses['generator']) == pytest.approx(
        100 * float((torch.tanh(logits) - target).abs().mean()), rel=1e-6)


def test_ce_is_binary_cross_entropy_of_the_mask_probability():
    logits = torch.tensor([[[[0.0, 1.0], [-2.0, 0.5]]]])
    target = torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]])      # mask 1 0 / 0 1
    prob = (torch.tanh(logits) + 1) / 2                        # = sigmoid(2 z)
    mask = (target > 0).float()
    expected = -(mask * prob.log() + (1 - mask) * (1 - prob).log()).mean()
    assert float(reconstruction_loss(logits, target, 'ce')) == pytest.approx(
        float(expected), rel=1e-5)
    with pytest.raises(ValueError, match='1-channel'):
        reconstruction_loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), 'ce')


def _step_models(gan_weight: float, order: list[str]) -> StepModels:
    torch.manual_seed(0)
    gen = Translator(TranslatorConfig(base_channels=4))
    disc = PatchDiscriminator(DiscriminatorConfig(base_channels=4), in_channels=4)
    opt_g = torch.optim.Adam(gen.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_g.register_step_post_hook(lambda *_: order.append('G'))
    opt_d.register_step_post_hook(lambda *_: order.append('D'))
    return StepModels(LogitsView(gen), disc, opt_g, opt_d)


def test_step_updates_the_discriminator_then_the_generator():
    order: list[str] = []
    models = _step_models(1.0, order)
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.ones(2, 1, 32, 32)
    losses = translate_step(models, a, b, TranslateLossConfig())
    assert order == ['D', 'G']
    assert losses['total'] == pytest.approx(losses['generator'] + losses['discriminator'])
    assert {'gen_gan', 'gen_rec', 'disc_real', 'disc_fake'} <= set(losses)
    assert all(p.requires_grad for p in models.discriminator.parameters())


def test_step_without_gan_leaves_the_discriminator_alone():
    order: list[str] = []
    models = _step_models(0.0, order)
    before = [p.clone() for p in models.discriminator.parameters()]
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.ones(2, 1, 32, 32)
    losses = translate_step(models, a, b, TranslateLossConfig(gan_weight=0.0))
    assert order == ['G'] and losses['discriminator'] == 0.0
    assert all(torch.equal(p, q) for p, q in zip(before, models.discriminator.parameters()))


# -- networks ------------------------------------------------------------------------------

@pytest.mark.parametrize('encoder,out_channels', [('unet', 1), ('unet', 3),
                                                  ('mobilenet_v2', 3)])
def test_translator_shape_range_and_script(encoder, out_channels):
    cfg = TranslatorConfig(encoder=encoder, out_channels=out_channels, base_channels=8,
                           pretrained=False)
    net = Translator(cfg).eval()
    x = torch.rand(2, 3, 64, 96) * 2 - 1
    y = net(x)
    assert y.shape == (2, out_channels, 64, 96)
    assert float(y.abs().max()) <= 1.0
    assert torch.allclose(torch.jit.script(net)(x), y, atol=1e-5)
    assert torch.allclose(torch.tanh(net.forward_logits(x)), y)


def test_translator_dropout_is_the_noise_in_training_only():
    net = Translator(TranslatorConfig(base_channels=8))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert not torch.allclose(net.train()(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))
    n_dropout = sum(isinstance(m, nn.Dropout) for m in net.modules())
    assert n_dropout == 3
    assert not any(isinstance(m, nn.Dropout)
                   for m in Translator(TranslatorConfig(dropout=0.0)).modules())


def test_translator_refuses_bad_shapes_and_configs():
    net = Translator(TranslatorConfig(base_channels=4))
    with pytest.raises(ValueError, match='multiples of 32'):
        net(torch.zeros(1, 3, 48, 32))
    with pytest.raises(ValueError, match='multiples of 32'):
        net(torch.zeros(1, 1, 32, 32))
    for bad in ({'out_channels': 2}, {'in_channels': 1}, {'encoder': 'vgg'},
                {'dropout': 1.0}, {'base_channels': 0}):
        with pytest.raises(ValueError):
            TranslatorConfig(**bad)


def test_conditional_patch_discriminator_takes_pairs_and_keeps_its_70px_field():
    disc = PatchDiscriminator(DiscriminatorConfig(), in_channels=4)
    assert disc.net[0].in_channels == 4
    assert PatchDiscriminator(DiscriminatorConfig()).net[0].in_channels == 3
    field = PatchDiscriminator(DiscriminatorConfig(norm='none'), in_channels=4)
    x = torch.zeros(1, 4, 256, 256, requires_grad=True)
    # one patch logit: which pixels reach it (with instance norm, all of them would)
    field(x)[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)))
    assert int(rows.max() - rows.min()) + 1 == 70
    assert pair(torch.zeros(1, 3, 2, 2), torch.ones(1, 1, 2, 2)).shape == (1, 4, 2, 2)


# -- metrics -------------------------------------------------------------------------------

def _bar(x0: int, x1: int, shape=(40, 40)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[10:30, x0:x1] = True
    return mask


def test_mask_iou_known_values():
    assert mask_iou(_bar(10, 20), _bar(15, 25)) == pytest.approx(100 / 300)
    assert mask_iou(_bar(10, 20), _bar(10, 20)) == 1.0
    assert mask_iou(np.zeros((40, 40)), _bar(0, 2)) == 0.0
    assert mask_iou(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0
    with pytest.raises(ValueError, match='shapes differ'):
        mask_iou(np.zeros((4, 4)), np.zeros((4, 5)))


def test_boundary_fscore_known_values():
    bar = _bar(10, 20)
    assert boundary_fscore(bar, bar) == 1.0
    assert boundary_fscore(bar, np.roll(bar, 1, axis=1), tolerance_px=2) == 1.0
    assert boundary_fscore(bar, np.roll(bar, 1, axis=1), tolerance_px=0) < 0.8
    assert boundary_fscore(np.zeros_like(bar), bar) == 0.0
    assert boundary_fscore(np.zeros_like(bar), np.zeros_like(bar)) == 1.0
    # a 1x1 blob 10 px from any gt boundary: precision 0; recall 0 -> F 0
    far = np.zeros_like(bar)
    far[0, 39] = True
    assert boundary_fscore(far, bar) == 0.0


def test_psnr_and_ssim_known_values():
    x = np.full((20, 20, 3), 0.3)
    y = np.full((20, 20, 3), 0.5)
    assert psnr(x, y) == pytest.approx(10 * math.log10(1 / 0.04))
    assert psnr(x * 255, y * 255, data_range=255) == pytest.approx(psnr(x, y))
    assert psnr(x, x) == math.inf
    c1 = 0.01 ** 2
    assert ssim(x, y) == pytest.approx((2 * 0.3 * 0.5 + c1) / (0.09 + 0.25 + c1))
    rng = np.random.default_rng(0)
    noise = rng.random((32, 32))
    assert ssim(noise, noise) == pytest.approx(1.0)
    assert ssim(noise, 1 - noise) < 0
