# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Training end to end on a synthetic field scene: steps, resume, export, bad input."""

import json
from pathlib import Path

from conftest import torchrun_train
import cv2
import numpy as np
import pytest
from sorghum_depth.inference import load_model
from sorghum_depth_training.data.dataset_dir import load_dataset
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.evaluation import evaluate
from sorghum_depth_training.export import main as export
from sorghum_depth_training.loop import train
from sorghum_depth_training.loop.checkpoint import load_checkpoint
from sorghum_depth_training.loop.config import load_config, TrainConfig
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = ['--set', 'batch_size=2', '--set', 'data.height=128', '--set', 'data.width=256',
        '--set', 'generator.encoder=unet', '--set', 'loss.w_hint=0',
        '--set', 'generator.enc_channels=[8,16,32,32,64,64]',
        '--set', 'generator.dec_channels=[8,16,16,32,32,64]',
        '--set', 'discriminator.base_channels=16', '--set', 'data.num_workers=0',
        '--set', 'log_every=1', '--set', 'image_every=5']


@pytest.fixture(scope='module')
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('synth') / 'field'
    write_synthetic(out, count=10, seed=3, width=256, height=128)
    return out


def _train(*args) -> int:
    return train.main([str(a) for a in args])


def _steps(run: Path) -> int:
    return load_checkpoint(run / 'checkpoints' / 'last.pt')['step']


def test_example_config_lists_every_default(repo_root):
    assert load_config(repo_root / 'config' / 'train.yaml') == TrainConfig()


def test_train_resume_export_predict(synth, tmp_path):
    run = tmp_path / 'run'
    assert _train('--data', synth, '--out', run, *TINY, '--set', 'max_steps=10') == 0
    assert _steps(run) == 10
    assert (run / 'config.yaml').is_file() and list((run / 'tb').iterdir())
    logged = [json.loads(line) for line in (run / 'losses.jsonl').read_text().splitlines()]
    assert {'generator', 'discriminator', 'total'} <= set(logged[0])
    assert any(entry['split'] == 'val' and 'gt_mae_px' in entry for entry in logged)
    assert _train('--out', run, '--resume', '--set', 'max_steps=20') == 0
    assert _steps(run) == 20
    model_path = tmp_path / 'model.ts'
    assert export.main([str(run / 'checkpoints' / 'last.pt'), str(model_path)]) == 0
    model = load_model(model_path)
    assert model.metadata['baseline_m'] == pytest.approx(0.12)
    assert model.metadata['train_step'] == 20
    assert model.metadata['encoder'] == 'unet'
    assert model.metadata['generator']['enc_channels'] == [8, 16, 32, 32, 64, 64]
    left, _ = load_dataset(synth).read_pair('000000')
    odd_size = cv2.resize((left * 255).astype(np.uint8), (300, 100))   # any H, W
    disp_px, depth_m = model.predict_depth(odd_size)
    assert disp_px.shape == depth_m.shape == (100, 300)
    assert np.isfinite(disp_px).all() and (disp_px > 0).all() and (disp_px < 0.3 * 300).all()
    report_dir = tmp_path / 'eval'
    assert evaluate.main([str(synth), '--model', str(model_path), '--out', str(report_dir),
                          '--no-panels']) == 0
    report = json.loads((report_dir / 'metrics.json').read_text())
    assert {'model', 'sgbm'} <= set(report['methods'])
    assert report['methods']['model']['mean']['median']['n_pairs'] == 10


def test_resumed_run_matches_an_uninterrupted_one(synth, tmp_path):
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    assert _train('--data', synth, '--out', straight, *TINY, '--set', 'max_steps=7') == 0
    assert _train('--data', synth, '--out', split, *TINY, '--set', 'max_steps=3') == 0
    assert _train('--out', split, '--resume', '--set', 'max_steps=7') == 0
    a = load_checkpoint(straight / 'checkpoints' / 'last.pt')
    b = load_checkpoint(split / 'checkpoints' / 'last.pt')
    assert a['step'] == b['step'] == 7 and a['epoch'] == b['epoch'] == 1
    for key in a['generator']:
        assert torch.equal(a['generator'][key], b['generator'][key]), key
    last = [[json.loads(x) for x in (r / 'losses.jsonl').read_text().splitlines()
             if '"train"' in x][-1] for r in (straight, split)]
    assert last[0]['generator'] == pytest.approx(last[1]['generator'], rel=1e-6)


def test_torchrun_two_cpu_processes(synth, tmp_path):
    run = tmp_path / 'ddp'
    torchrun_train(tmp_path, '--data', str(synth), '--out', str(run), *TINY,
                   '--set', 'max_steps=3')
    assert _steps(run) == 3
    train_lines = [x for x in (run / 'losses.jsonl').read_text().splitlines() if 'train' in x]
    assert len(train_lines) == 3, 'only rank 0 logs'


@pytest.mark.parametrize('args,code,message', [
    (['--data', '{tmp}/nowhere'], 2, 'nowhere'),
    (['--data', '{tmp}/empty'], 2, 'empty'),
    (['--data', '{synth}', '--set', 'loss.w_gann=1'], 2, 'loss.w_gann'),
    (['--data', '{synth}', '--set', 'data.width=300'], 2, 'multiples of 32'),
])
def test_bad_input_is_named_and_exits_2(synth, tmp_path, capsys, args, code, message):
    (tmp_path / 'empty').mkdir()
    args = [a.format(tmp=tmp_path, synth=synth) for a in args]
    assert _train(*args, '--out', tmp_path / 'run', *TINY[:2]) == code
    assert message in capsys.readouterr().err


def test_checkpoint_of_another_model_config_is_refused(synth, tmp_path, capsys):
    run = tmp_path / 'run'
    assert _train('--data', synth, '--out', run, *TINY, '--set', 'max_steps=1') == 0
    other = tmp_path / 'other.yaml'
    other.write_text('generator: {enc_channels: [8, 8, 8, 8, 8, 8]}\n')
    assert _train('--config', other, '--data', synth, '--out', run, '--resume', *TINY[:2]) == 2
    assert 'generator config differs' in capsys.readouterr().err


def test_a_checkpoint_from_before_generator_dropout_resumes(synth, tmp_path):
    run = tmp_path / 'run'
    assert _train('--data', synth, '--out', run, *TINY, '--set', 'max_steps=1') == 0
    path = run / 'checkpoints' / 'last.pt'
    state = load_checkpoint(path)
    del state['model']['generator']['dropout']           # as an older release wrote it
    torch.save(state, path)
    config = run / 'config.yaml'
    config.write_text(''.join(line for line in config.read_text().splitlines(keepends=True)
                              if 'dropout' not in line))
    assert _train('--out', run, '--resume', '--set', 'max_steps=2') == 0
    assert _steps(run) == 2


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(synth, tmp_path, capsys):
    run = tmp_path / 'run'
    assert _train('--data', synth, '--out', run, *TINY, '--set', 'max_steps=2') == 0
    before = (run / 'checkpoints' / 'last.pt').read_bytes()
    code = _train('--out', run, '--resume', '--set', 'max_steps=6',
                  '--set', 'optim.lr_g=1.0e12', '--set', 'optim.lr_d=1.0e12')
    assert code == 3
    assert 'non-finite loss' in capsys.readouterr().err
    assert (run / 'checkpoints' / 'last.pt').read_bytes() == before
