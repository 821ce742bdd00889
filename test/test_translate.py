# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""task: translate: config, paired tensors, a short CPU pix2pix run on stalk pairs, resume."""

import json
from pathlib import Path
import subprocess
import sys

from conftest import torchrun_train
import cv2
import numpy as np
import pytest
from sorghum_depth_training.data.paired import load_paired
from sorghum_depth_training.data.paired_loader import random_crop_flip, TranslationDataset
from sorghum_depth_training.evaluation.translate_metrics import mask_iou
from sorghum_depth_training.loop import train
from sorghum_depth_training.loop.checkpoint import load_checkpoint
from sorghum_depth_training.loop.config import ConfigError, load_config, PIX2PIX_OPTIM
from sorghum_depth_training.loop.validate import validate_translate
from sorghum_depth_training.nets.translator import Translator, TranslatorConfig
import torch
import yaml

SIZE = 64
SMALL = ['--set', 'task=translate', '--set', f'translate.height={SIZE}',
         '--set', f'translate.width={SIZE}', '--set', 'translate.generator.base_channels=16',
         '--set', 'translate.discriminator.base_channels=8', '--set', 'batch_size=4',
         '--set', 'data.num_workers=0', '--set', 'threads=1', '--set', 'log_every=5',
         '--set', 'image_every=50', '--set', 'epochs=1000']


def make_stalk_pairs(root: Path, count: int = 40, seed: int = 0) -> Path:
    """
    Write a paired folder of simple rows: vertical stalk bars crossed by green leaves.

    Inputs: a random background colour with noise; 1 to 3 tan stalks 3 to 6 px wide; 1 or
    2 green leaf bands across the image, in front of the stalks. Targets: the stalk mask.
    """
    rng = np.random.default_rng(seed)
    for sub in ('A', 'B', 'splits'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        image = np.clip(rng.uniform(60, 140, 3) + rng.normal(0, 18, (SIZE, SIZE, 3)), 0, 255)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        for _ in range(rng.integers(1, 4)):
            x, width = int(rng.integers(0, SIZE - 6)), int(rng.integers(3, 7))
            mask[:, x:x + width] = 255
            image[:, x:x + width] = np.clip((170, 150, 90) + rng.normal(0, 12, (SIZE, width, 3)),
                                            0, 255)
        for _ in range(rng.integers(1, 3)):
            y = int(rng.integers(0, SIZE - 4))
            image[y:y + 3] = (60, 160, 60)
            mask[y:y + 3] = 0
        name = f'row{i:03d}'
        cv2.imwrite(str(root / 'A' / f'{name}.png'),
                    cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / 'B' / f'{name}.png'), mask)
        names.append(name)
    n_train = count * 4 // 5
    (root / 'splits' / 'train.txt').write_text('\n'.join(names[:n_train]) + '\n')
    (root / 'splits' / 'val.txt').write_text('\n'.join(names[n_train:]) + '\n')
    (root / 'paired.yaml').write_text(yaml.safe_dump(
        {'format': 'sorghum_depth_paired', 'version': 1, 'a_encoding': 'rgb8',
         'b_encoding': 'mono8', 'task': 'stalk_segmentation', 'count': count}))
    return root


@pytest.fixture(scope='module')
def stalks(tmp_path_factory) -> Path:
    return make_stalk_pairs(tmp_path_factory.mktemp('pairs') / 'stalks')


def _train(*args) -> int:
    return train.main([str(a) for a in args])


def _logged(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / 'losses.jsonl').read_text().splitlines()]


# -- config --------------------------------------------------------------------------------

def test_task_defaults_to_depth_and_translate_gets_pix2pix_adam(repo_root):
    assert load_config().task == 'depth'
    cfg = load_config(None, ['task=translate'])
    assert (cfg.optim.lr_g, cfg.optim.lr_d) == (2e-4, 2e-4)
    assert cfg.optim.betas_g == cfg.optim.betas_d == (0.5, 0.999)
    assert cfg.translate.loss.lambda_rec == 100.0 and cfg.translate.loss.gan_weight == 1.0
    assert (cfg.translate.discriminator.base_channels, cfg.translate.discriminator.downsample,
            cfg.translate.discriminator.num_layers) == (64, 1, 3)     # the 70x70 PatchGAN
    assert load_config(None, ['task=translate', 'optim.lr_g=1e-3']).optim.lr_d == 2e-4
    stalks_cfg = load_config(repo_root / 'config' / 'translate_stalks.yaml')
    assert stalks_cfg.task == 'translate' and stalks_cfg.optim.lr_g == PIX2PIX_OPTIM['lr_g']
    assert stalks_cfg.translate == load_config(None, ['task=translate']).translate
    grey = load_config(repo_root / 'config' / 'translate_grey2colour.yaml').translate
    assert grey.source == 'grey2colour' and grey.generator.out_channels == 3


@pytest.mark.parametrize('override,key', [
    ('translate.height=100', 'multiples of 32'), ('translate.loss.kind=bce', 'kind'),
    ('translate.generator.out_channels=2', 'out_channels'), ('translate.jitter=0.9', 'jitter'),
    ('translate.loss.lambda_rec=-1', 'lambda_rec'), ('task=segment', 'task'),
    ('translate.source=stereo', 'translate.source'),
])
def test_bad_translate_values_are_refused(override, key):
    with pytest.raises(ConfigError, match=key):
        load_config(None, ['task=translate', override])


def test_settings_that_cannot_work_together_are_refused():
    with pytest.raises(ConfigError, match='ce needs a mask'):
        load_config(None, ['task=translate', 'translate.loss.kind=ce',
                           'translate.generator.out_channels=3'])
    with pytest.raises(ConfigError, match='grey2colour needs'):
        load_config(None, ['task=translate', 'translate.source=grey2colour'])


# -- paired tensors ------------------------------------------------------------------------

def test_pairs_become_tensors_in_unit_range_with_nearest_masks(stalks):
    pairs = load_paired(stalks)
    data = TranslationDataset(pairs, 'train', (32, 32), scale=1.125)
    item = data[0]
    assert item['a'].shape == (3, 36, 36) and item['b'].shape == (1, 36, 36)
    assert float(item['a'].min()) >= -1 and float(item['a'].max()) <= 1
    assert set(item['b'].unique().tolist()) <= {-1.0, 1.0}
    assert len(data) == 32 and len(TranslationDataset(pairs, 'val', (32, 32))) == 8


def test_crop_and_flip_are_the_same_for_input_and_target():
    image_a = torch.rand(6, 3, 40, 44)
    image_b = image_a[:, :1].clone()
    gen = torch.Generator().manual_seed(3)
    out_a, out_b = random_crop_flip(image_a, image_b, (32, 32), 0.5, gen)
    assert out_a.shape == (6, 3, 32, 32) and out_b.shape == (6, 1, 32, 32)
    assert torch.equal(out_a[:, :1], out_b)
    again = random_crop_flip(image_a, image_b, (32, 32), 0.5,
                             torch.Generator().manual_seed(3))
    assert torch.equal(again[0], out_a)
    flipped = random_crop_flip(image_a, image_b, (40, 44), 1.0, gen)[0]
    assert torch.equal(flipped, image_a.flip(-1))


# -- training ------------------------------------------------------------------------------

def _all_stalk_iou(val_set: TranslationDataset) -> float:
    return float(np.mean([mask_iou(np.ones((SIZE, SIZE), bool), val_set[i]['b'][0].numpy() > 0)
                          for i in range(len(val_set))]))


def test_short_run_learns_stalks_and_resume_continues_exactly(stalks, tmp_path):
    run, whole = tmp_path / 'run', tmp_path / 'whole'
    assert _train('--data', stalks, '--out', run, *SMALL, '--set', 'max_steps=100') == 0
    assert _train('--out', run, '--resume', '--set', 'max_steps=112') == 0
    assert _train('--data', stalks, '--out', whole, *SMALL, '--set', 'max_steps=112') == 0
    state = load_checkpoint(run / 'checkpoints' / 'last.pt')
    assert state['step'] == 112 and state['train_config']['task'] == 'translate'
    assert state['task'] == 'translate' and state['translate_task'] == 'stalk_segmentation'
    assert (state['output_encoding'], state['input_transform']) == ('mono8', 'rgb')
    net = Translator(TranslatorConfig(**state['model']['generator']))
    net.load_state_dict(state['generator'])
    uninterrupted = load_checkpoint(whole / 'checkpoints' / 'last.pt')['generator']
    assert all(torch.equal(v, uninterrupted[k]) for k, v in state['generator'].items())
    # the losses: each step once, the three curves, the validation metrics
    logged = _logged(run)
    train_steps = [e['step'] for e in logged if e['split'] == 'train']
    assert train_steps == list(range(5, 113, 5))
    assert {'generator', 'discriminator', 'total', 'gen_gan', 'gen_rec'} <= set(logged[0])
    assert list((run / 'tb').iterdir())
    val_set = TranslationDataset(load_paired(stalks), 'val', (SIZE, SIZE))
    iou = validate_translate(net, val_set, torch.device('cpu'))['iou']
    baseline = _all_stalk_iou(val_set)
    assert baseline < 0.25
    assert iou > 0.5 and iou > 2 * baseline, (iou, baseline)
    assert (run / 'checkpoints' / 'best.pt').is_file()


def test_a_short_run_on_rendered_rows_beats_both_trivial_masks(tmp_path):
    # The renderer's own rows (sorghum-depth-synth --paired-stalks: stalks behind leaves,
    # ground, sky; exact masks), not drawn bars: 400 steps (about 10 s) must beat the
    # all-background mask (IoU 0) clearly and the all-stalk mask (about 0.34 here).
    data = tmp_path / 'stalks'
    done = subprocess.run([sys.executable, '-m', 'sorghum_depth_training.data.synthetic',
                           str(data), '--count', '40', '--width', '96', '--height', '64',
                           '--paired-stalks', '--seed', '3'], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert _train('--data', data, '--out', tmp_path / 'run', *SMALL,
                  '--set', 'max_steps=400') == 0
    state = load_checkpoint(tmp_path / 'run' / 'checkpoints' / 'last.pt')
    net = Translator(TranslatorConfig(**state['model']['generator']))
    net.load_state_dict(state['generator'])
    val_set = TranslationDataset(load_paired(data), 'val', (SIZE, SIZE))
    iou = validate_translate(net, val_set, torch.device('cpu'))['iou']
    all_stalk = _all_stalk_iou(val_set)
    assert 0.2 < all_stalk < 0.5
    assert iou > 0.4 and iou > all_stalk + 0.05, (iou, all_stalk)


@pytest.mark.parametrize('baseline', [['translate.loss.gan_weight=0'],
                                      ['translate.loss.gan_weight=0',
                                       'translate.loss.kind=ce']])
def test_the_benchmark_baselines_train(stalks, tmp_path, baseline):
    sets = [arg for item in baseline for arg in ('--set', item)]
    assert _train('--data', stalks, '--out', tmp_path, *SMALL, *sets,
                  '--set', 'max_steps=8') == 0
    logged = [e for e in _logged(tmp_path) if e['split'] == 'train']
    assert all(e['discriminator'] == 0.0 and e['gen_gan'] == 0.0 for e in logged)


def test_grey_to_colour_run_scores_psnr_and_ssim(stalks, tmp_path):
    assert _train('--data', stalks, '--out', tmp_path, *SMALL, '--set', 'max_steps=8',
                  '--set', 'translate.source=grey2colour',
                  '--set', 'translate.generator.out_channels=3') == 0
    val = [e for e in _logged(tmp_path) if e['split'] == 'val']
    assert val and {'psnr', 'ssim'} <= set(val[0])
    state = load_checkpoint(tmp_path / 'checkpoints' / 'last.pt')
    assert state['discriminator']['net.0.weight'].shape[1] == 6      # cat(grey, colour)
    assert (state['output_encoding'], state['input_transform']) == ('rgb8', 'grey')


def test_bad_translate_runs_exit_2(stalks, tmp_path, capsys):
    assert _train('--data', tmp_path / 'nothing', '--out', tmp_path / 'a', *SMALL) == 2
    assert 'error:' in capsys.readouterr().err
    assert _train('--data', stalks, '--out', tmp_path / 'b', *SMALL,
                  '--set', 'translate.generator.out_channels=3') == 2
    assert 'out_channels must be 1' in capsys.readouterr().err
    run = tmp_path / 'c'
    assert _train('--data', stalks, '--out', run, *SMALL, '--set', 'max_steps=1') == 0
    assert _train('--data', stalks, '--out', run, '--resume', '--config',
                  Path(__file__).parents[1] / 'config' / 'train.yaml') == 2
    assert "a task 'translate' checkpoint" in capsys.readouterr().err


def test_torchrun_two_cpu_processes(stalks, tmp_path):
    run = tmp_path / 'ddp'
    torchrun_train(tmp_path, '--data', str(stalks), '--out', str(run), *SMALL,
                   '--set', 'max_steps=3', '--set', 'log_every=1')
    assert load_checkpoint(run / 'checkpoints' / 'last.pt')['step'] == 3
    assert [e['step'] for e in _logged(run) if e['split'] == 'train'] == [1, 2, 3]
