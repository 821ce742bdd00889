# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Generator: size, shapes, output range, config round trip, gradients."""

import pytest
from sorghum_depth_training.nets.generator import count_parameters, Generator, GeneratorConfig
from sorghum_depth_training.nets.translator import Translator, TranslatorConfig
import torch

SMALL = GeneratorConfig(enc_channels=(8, 16, 16, 32, 32, 32), dec_channels=(8, 8, 16, 16, 32, 32))


def test_default_size_is_8_to_15_million_parameters():
    n = count_parameters(Generator())
    assert 8e6 <= n <= 15e6, n


@pytest.mark.parametrize('hw', [(64, 128), (128, 192)])
def test_four_scales_of_left_and_right_disparity(hw):
    torch.manual_seed(0)
    disps = Generator(SMALL)(torch.rand(2, 3, *hw))
    assert [tuple(d.shape) for d in disps] == [
        (2, 2, hw[0] // 2 ** s, hw[1] // 2 ** s) for s in range(4)]
    for d in disps:
        assert d.min() > 0 and d.max() < SMALL.max_disp_frac


def test_default_generator_runs_at_192x640():
    with torch.no_grad():
        disps = Generator().eval()(torch.rand(1, 3, 192, 640))
    assert disps[0].shape == (1, 2, 192, 640)


def test_max_disp_frac_bounds_output():
    cfg = GeneratorConfig(**{**SMALL.to_dict(), 'max_disp_frac': 0.05})
    d = Generator(cfg)(torch.rand(1, 3, 64, 64))[0]
    assert d.max() < 0.05


def test_config_round_trips_through_plain_dict():
    d = SMALL.to_dict()
    assert isinstance(d['enc_channels'], list)
    assert GeneratorConfig(**d) == SMALL


@pytest.mark.parametrize('kwargs', [
    {'enc_channels': (8, 16), 'dec_channels': (8,)},
    {'num_scales': 0},
    {'max_disp_frac': 0.0},
    {'dropout': 1.0},
    {'dropout': -0.1},
])
def test_bad_config_is_rejected(kwargs):
    with pytest.raises(ValueError):
        GeneratorConfig(**kwargs)


def test_dropout_acts_in_training_only_and_scripts():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 64, 128)
    net = Generator(GeneratorConfig(**{**SMALL.to_dict(), 'dropout': 0.5}))
    assert not torch.equal(net(image)[0], net(image)[0])       # channels dropped at random
    net.eval()
    plain = Generator(GeneratorConfig(**{**SMALL.to_dict(), 'dropout': 0.0}))
    plain.load_state_dict(net.state_dict())
    plain.eval()
    with torch.no_grad():
        expected = plain(image)[0]
        assert torch.equal(net(image)[0], expected)              # none at inference
        assert torch.equal(torch.jit.script(net)(image)[0], expected)


def test_input_size_not_multiple_of_divisor_gives_clear_error():
    with pytest.raises(ValueError, match='multiples of 64'):
        Generator(SMALL)(torch.rand(1, 3, 100, 128))


def test_every_parameter_gets_a_gradient():
    gen = Generator(SMALL)
    disps = gen(torch.rand(1, 3, 64, 64))
    sum(d.mean() for d in disps).backward()
    missing = [n for n, p in gen.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


@pytest.mark.parametrize('encoder', ['mobilenet_v2', 'efficientnet_lite0'])
def test_new_generator_keeps_encoder_batchnorm_frozen_from_the_first_step(encoder):
    # The trainer steps a freshly built generator: before the fix its BatchNorm layers
    # were in training mode until the first validation called train(), so the first
    # epoch replaced most of the ImageNet statistics with a few batches' own.
    gen = Generator(GeneratorConfig(encoder=encoder, pretrained=False))
    bns = [m for m in gen.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [bn.running_mean.clone() for bn in bns]
    gen(torch.rand(2, 3, 64, 128))
    assert gen.training and gen.decoder.training
    assert not any(bn.training for bn in bns)
    assert all(torch.equal(bn.running_mean, b) for bn, b in zip(bns, before))


def test_adapt_batchnorm_updates_statistics_only_while_on():
    gen = Generator(GeneratorConfig(encoder='mobilenet_v2', pretrained=False))
    bn = next(m for m in gen.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    start = bn.running_mean.clone()
    gen.adapt_batchnorm(True)
    gen(torch.rand(2, 3, 64, 128))
    adapted = bn.running_mean.clone()
    assert not torch.equal(adapted, start)
    gen.adapt_batchnorm(False)
    gen(torch.rand(2, 3, 64, 128))
    assert torch.equal(bn.running_mean, adapted)
    gen.eval()
    gen.adapt_batchnorm(True)    # no effect outside training mode
    assert not bn.training


def test_new_translator_keeps_imagenet_batchnorm_frozen_and_adapts_on_request():
    # The translator had the generator's bug: its ImageNet encoder's BatchNorm adapted
    # to the first epoch's batches because nothing called train() before validation.
    from test_encoders import _need
    _need('mobilenet_v2')
    net = Translator(TranslatorConfig(encoder='mobilenet_v2', pretrained=True))
    bn = next(m for m in net.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    imagenet = bn.running_mean.clone()
    net(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert net.training and not bn.training
    assert torch.equal(bn.running_mean, imagenet)
    net.adapt_batchnorm(True)
    net(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert not torch.equal(bn.running_mean, imagenet)
