# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Training on a CPU: threads, time budget, best.pt, snapshots, resume logs, hints."""

import json
from pathlib import Path

import pytest
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.export import main as export
from sorghum_depth_training.loop import train
from sorghum_depth_training.loop.checkpoint import load_checkpoint
from sorghum_depth_training.loop.config import load_config, OptimConfig, TrainConfig
from sorghum_depth_training.loop.trainer import rate_factor
import torch

TINY = ['--set', 'batch_size=2', '--set', 'data.height=64', '--set', 'data.width=192',
        '--set', 'generator.encoder=unet', '--set', 'loss.w_hint=0',
        '--set', 'generator.enc_channels=[8,16,32,32,64,64]',
        '--set', 'generator.dec_channels=[8,16,16,32,32,64]',
        '--set', 'discriminator.base_channels=16', '--set', 'data.num_workers=0',
        '--set', 'log_every=1', '--set', 'image_every=0']


@pytest.fixture(scope='module')
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('synth') / 'field'
    write_synthetic(out, count=10, seed=3, width=384, height=128)
    return out


def _train(*args) -> int:
    return train.main([str(a) for a in args])


def _logged_steps(run: Path) -> list[int]:
    lines = (run / 'losses.jsonl').read_text().splitlines()
    return [json.loads(x)['step'] for x in lines if '"train"' in x]


def test_resumed_run_logs_every_step_once(synth, tmp_path):
    run = tmp_path / 'run'
    assert _train('--data', synth, '--out', run, *TINY, '--set', 'max_steps=3') == 0
    at_3 = (run / 'checkpoints' / 'last.pt').read_bytes()
    assert _train('--out', run, '--resume', '--set', 'max_steps=6') == 0
    # killed after logging steps 4-6 but before saving them: last.pt is still step 3
    (run / 'checkpoints' / 'last.pt').write_bytes(at_3)
    assert _train('--out', run, '--resume', '--set', 'max_steps=8') == 0
    assert _logged_steps(run) == list(range(1, 9))


def test_best_checkpoint_is_kept_and_exports(synth, tmp_path):
    run = tmp_path / 'run'
    assert _train('--data', synth, '--out', run, *TINY, '--set', 'max_steps=12') == 0
    best = load_checkpoint(run / 'checkpoints' / 'best.pt')
    last = load_checkpoint(run / 'checkpoints' / 'last.pt')
    val = [json.loads(x) for x in (run / 'losses.jsonl').read_text().splitlines()
           if '"val"' in x]
    assert len(val) == 3          # 9 training pairs, batch 2: 4 steps an epoch
    assert best['best_score'] == pytest.approx(min(v['gt_abs_rel'] for v in val))
    assert best['step'] in {v['step'] for v in val} and best['step'] <= last['step']
    assert export.main([str(run / 'checkpoints' / 'best.pt'), str(tmp_path / 'm.ts')]) == 0


def test_time_budget_snapshots_and_threads(synth, tmp_path):
    run = tmp_path / 'run'
    threads = torch.get_num_threads()
    try:
        assert _train('--data', synth, '--out', run, *TINY, '--set', 'max_minutes=0.15',
                      '--set', 'snapshot_minutes=0.05', '--set', 'threads=1',
                      '--set', 'epochs=100000') == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    last = load_checkpoint(run / 'checkpoints' / 'last.pt')
    assert 9.0 <= last['train_seconds'] < 40.0
    snaps = sorted(p.name for p in (run / 'checkpoints').glob('snap_*.pt'))
    marks = [int(name[5:11]) for name in snaps]
    assert marks == list(range(3, 3 * len(marks) + 1, 3)) and len(marks) >= 2


def test_hints_are_computed_on_first_use_and_trained_on(synth, tmp_path):
    run = tmp_path / 'run'
    assert _train('--data', synth, '--out', run, *TINY, '--set', 'max_steps=2',
                  '--set', 'loss.w_hint=1') == 0
    assert len(list((synth / 'hints').glob('*.npz'))) == 10
    rows = [json.loads(x) for x in (run / 'losses.jsonl').read_text().splitlines()
            if '"train"' in x]
    assert all(r['hint'] > 0 for r in rows)


@pytest.mark.parametrize('override,message', [
    ('threads=-1', 'threads'), ('max_minutes=-2', 'max_minutes'),
    ('loss.w_hint=-1', 'loss.w_hint'), ('discriminator.downsample=3', 'downsample'),
    ('generator.encoder=vgg', 'encoder must be one of'),
    ('optim.schedule=linear', 'optim.schedule'),
])
def test_bad_values_are_named(synth, tmp_path, capsys, override, message):
    assert _train('--data', synth, '--out', tmp_path / 'run', '--set', override) == 2
    assert message in capsys.readouterr().err


def test_learning_rates_drop_at_the_decay_point(synth, tmp_path):
    run = tmp_path / 'run'
    assert _train('--data', synth, '--out', run, *TINY, '--set', 'max_steps=4',
                  '--set', 'optim.decay_at=0.5', '--set', 'optim.lr_g=1e-3',
                  '--set', 'optim.lr_d=2e-4') == 0
    state = load_checkpoint(run / 'checkpoints' / 'last.pt')
    assert state['opt_g']['param_groups'][0]['lr'] == pytest.approx(1e-4)
    assert state['opt_d']['param_groups'][0]['lr'] == pytest.approx(2e-5)
    assert _train('--data', synth, '--out', tmp_path / 'flat', *TINY, '--set', 'max_steps=2',
                  '--set', 'optim.lr_g=1e-3') == 0
    flat = load_checkpoint(tmp_path / 'flat' / 'checkpoints' / 'last.pt')
    assert flat['opt_g']['param_groups'][0]['lr'] == pytest.approx(1e-3)


def test_rate_factor_known_values():
    step, cosine = OptimConfig(decay_at=0.75, decay_factor=0.1), OptimConfig(
        schedule='cosine', decay_factor=0.1)
    assert [rate_factor(step, p) for p in (0.0, 0.74, 0.75, 1.0)] == [1.0, 1.0, 0.1, 0.1]
    assert rate_factor(OptimConfig(decay_at=0.0), 0.99) == 1.0
    assert [rate_factor(cosine, p) for p in (0.0, 0.5, 1.0, 1.5)] == pytest.approx(
        [1.0, 0.55, 0.1, 0.1])


def test_a_cosine_run_ends_at_the_floor_rate(synth, tmp_path):
    run = tmp_path / 'run'
    assert _train('--data', synth, '--out', run, *TINY, '--set', 'max_steps=4',
                  '--set', 'optim.schedule=cosine', '--set', 'optim.lr_g=1e-3') == 0
    state = load_checkpoint(run / 'checkpoints' / 'last.pt')
    # the rate of the last step taken: progress 3/4, 0.1 + 0.9 * (1 + cos(3 pi / 4)) / 2
    assert state['opt_g']['param_groups'][0]['lr'] == pytest.approx(1e-3 * 0.2318, rel=1e-3)


def test_a_section_given_in_part_keeps_the_recipe_defaults(tmp_path):
    path = tmp_path / 'partial.yaml'
    path.write_text('discriminator: {base_channels: 16}\ngenerator: {max_disp_frac: 0.2}\n')
    cfg = load_config(path)
    assert cfg.discriminator.base_channels == 16
    assert cfg.discriminator.downsample == TrainConfig().discriminator.downsample == 2
    assert cfg.generator.encoder == TrainConfig().generator.encoder == 'efficientnet_lite0'


@pytest.mark.parametrize('name', ['train.yaml', 'train_cpu.yaml', 'train_small.yaml', None])
def test_a_kill_loses_minutes_not_an_epoch(repo_root, name):
    cfg = load_config(None if name is None else repo_root / 'config' / name)
    assert 0 < cfg.checkpoint_minutes <= 10
