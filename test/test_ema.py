# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The generator's optimiser options: the weight average (optim.ema), the encoder's rate."""

from pathlib import Path

import pytest
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.export import main as export
from sorghum_depth_training.loop import train
from sorghum_depth_training.loop.checkpoint import load_checkpoint
from sorghum_depth_training.loop.ema import WeightAverage
from test_train import TINY
import torch
from torch import nn


def _net(value: float) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
    return net


def test_update_known_values_and_warm_up():
    live = _net(1.0)
    average = WeightAverage(live, decay=0.9)
    assert average.current_decay() == pytest.approx(0.1)    # (1 + 0) / (10 + 0)
    with torch.no_grad():
        for p in live.parameters():
            p.fill_(3.0)
        live[1].running_mean.fill_(7.0)
    average.update()    # 0.1 * 1 + 0.9 * 3
    assert all(torch.allclose(p, torch.full_like(p, 2.8)) for p in average.module.parameters())
    assert torch.equal(average.module[1].running_mean, torch.full((2,), 7.0))   # copied
    for _ in range(200):
        average.update()
    assert average.current_decay() == pytest.approx(0.9)    # warm-up over, capped
    assert all(torch.allclose(p, torch.full_like(p, 3.0)) for p in average.module.parameters())
    assert not any(p.requires_grad for p in average.module.parameters())


def test_refuses_decay_out_of_range():
    with pytest.raises(ValueError, match='decay'):
        WeightAverage(_net(0.0), decay=1.0)


@pytest.fixture(scope='module')
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('synth') / 'field'
    write_synthetic(out, count=6, seed=5, width=256, height=128)
    return out


def test_checkpoint_keeps_average_and_export_uses_it(synth, tmp_path):
    run = tmp_path / 'run'
    args = ['--data', str(synth), '--out', str(run), *TINY, '--set', 'image_every=0',
            '--set', 'optim.ema=0.99', '--set', 'max_steps=4']
    assert train.main(args) == 0
    state = load_checkpoint(run / 'checkpoints' / 'last.pt')
    assert state['generator_ema']['updates'] == 4
    name = next(k for k in state['generator'] if k.endswith('weight'))
    live, averaged = state['generator'][name], state['generator_ema']['weights'][name]
    assert not torch.equal(live, averaged)
    assert train.main(['--out', str(run), '--resume', '--set', 'max_steps=6']) == 0
    assert load_checkpoint(run / 'checkpoints' / 'last.pt')['generator_ema']['updates'] == 6
    model = tmp_path / 'model.ts'
    assert export.main([str(run / 'checkpoints' / 'last.pt'), str(model)]) == 0
    exported = torch.jit.load(str(model)).state_dict()
    state = load_checkpoint(run / 'checkpoints' / 'last.pt')
    key = next(k for k in exported if k.endswith(name))
    assert torch.equal(exported[key], state['generator_ema']['weights'][name])
    assert not torch.equal(exported[key], state['generator'][name])


def _one_step(data: Path, run: Path, mult: float) -> dict:
    args = ['--data', str(data), '--out', str(run), *TINY, '--set', 'image_every=0',
            '--set', 'max_steps=1', '--set', 'optim.lr_g=1e-3',
            '--set', f'optim.encoder_lr_mult={mult}']
    assert train.main(args) == 0
    return load_checkpoint(run / 'checkpoints' / 'last.pt')['generator']


def test_encoder_lr_mult_scales_only_the_encoder_step(synth, tmp_path):
    full, tenth = (_one_step(synth, tmp_path / f'run{i}', m) for i, m in ((1, 1.0), (2, 0.1)))
    enc = [k for k in full if k.startswith('encoder.') and full[k].is_floating_point()]
    rest = [k for k in full if not k.startswith('encoder.') and full[k].is_floating_point()]
    assert enc and rest
    # the same seed, data and first gradient: the decoder takes the same first Adam step
    assert all(torch.equal(full[k], tenth[k]) for k in rest)
    # Adam's first step is lr per weight (with a gradient): the encoder's differ by 0.9 lr
    gap = max((full[k] - tenth[k]).abs().max().item() for k in enc)
    assert gap == pytest.approx(0.9e-3, rel=0.05)


def test_resume_with_another_encoder_rate_is_an_error(synth, tmp_path, capsys):
    _one_step(synth, tmp_path / 'run', 0.1)
    code = train.main(['--out', str(tmp_path / 'run'), '--resume', '--set', 'max_steps=2',
                       '--set', 'optim.encoder_lr_mult=1'])
    err = capsys.readouterr().err
    assert code == 2
    assert 'error:' in err and 'encoder_lr_mult 0.1' in err and 'Traceback' not in err
