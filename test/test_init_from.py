# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Fine-tuning (``init_from``): a run starts its generator from trained weights."""

from pathlib import Path
import warnings

import pytest
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.loop import train
from sorghum_depth_training.loop.checkpoint import CheckpointError, load_checkpoint
from sorghum_depth_training.loop.config import load_config
from sorghum_depth_training.loop.init_weights import init_generator, read_init
from sorghum_depth_training.loop.trainer import Trainer
from sorghum_depth_training.nets.generator import Generator, GeneratorConfig
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = REPO_ROOT / 'models' / 'sorghum_synth_small.ts'
TINY = ['batch_size=2', 'data.height=128', 'data.width=256', 'generator.encoder=unet',
        'loss.w_hint=0', 'generator.enc_channels=[8,16,32,32,64,64]',
        'generator.dec_channels=[8,16,16,32,32,64]', 'discriminator.base_channels=16',
        'data.num_workers=0', 'image_every=0']


def _sets(*overrides) -> list[str]:
    return [x for s in TINY + list(overrides) for x in ('--set', s)]


@pytest.fixture(scope='module')
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """Return (a synthetic dataset, the last.pt of a 2-step run on it)."""
    root = tmp_path_factory.mktemp('init')
    write_synthetic(root / 'field', count=6, seed=4, width=256, height=128)
    assert train.main(['--data', str(root / 'field'), '--out', str(root / 'a')]
                      + _sets('max_steps=2')) == 0
    return root / 'field', root / 'a' / 'checkpoints' / 'last.pt'


def test_a_fine_tuning_run_starts_from_the_weights_and_counts_its_own_steps(trained, tmp_path):
    data, checkpoint = trained
    cfg = load_config(None, TINY + [f'data.dirs=[{data}]', f'init_from={checkpoint}'])
    start = Trainer(cfg, tmp_path / 'b', torch.device('cpu')).generator.state_dict()
    saved = load_checkpoint(checkpoint)['generator']
    assert all(torch.equal(start[k], saved[k]) for k in saved)
    fresh = Generator(cfg.generator).state_dict()
    assert not all(torch.equal(fresh[k], saved[k]) for k in saved), 'the test must tell'
    assert train.main(['--data', str(data), '--out', str(tmp_path / 'c')]
                      + _sets('max_steps=2', f'init_from={checkpoint}')) == 0
    assert load_checkpoint(tmp_path / 'c' / 'checkpoints' / 'last.pt')['step'] == 2


def test_the_shipped_model_ts_gives_its_exact_weights():
    if not SHIPPED.is_file():
        pytest.skip(f'{SHIPPED} absent (make default-model builds it)')
    cfg = load_config(REPO_ROOT / 'config' / 'train_small.yaml').generator
    generator = Generator(GeneratorConfig(**{**cfg.to_dict(), 'pretrained': False}))
    unused = {**cfg.to_dict(), 'dec_channels': [*cfg.dec_channels[:5], 384]}   # 6th: unet's
    init_generator(generator, read_init(SHIPPED, unused), SHIPPED)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)     # torch.jit.load's
        exported = torch.jit.load(str(SHIPPED)).state_dict()
    weights = generator.state_dict()
    assert len(weights) > 300
    for key, value in weights.items():
        assert torch.equal(value, exported[f'generator.generator.{key}']), key


def test_another_generator_shape_is_refused_by_key(trained):
    _, checkpoint = trained
    cfg = load_config(None, TINY + ['generator.dec_channels=[8,16,16,32,32,32]'])
    with pytest.raises(CheckpointError, match='dec_channels'):
        read_init(checkpoint, cfg.generator.to_dict())


@pytest.mark.parametrize('name,message', [
    ('missing.pt', 'checkpoint not found'), ('missing.ts', 'model not found'),
    ('junk.ts', 'not a readable TorchScript model')])
def test_a_bad_init_file_is_named_and_exits_2_before_any_work(
        trained, tmp_path, capsys, name, message):
    data, _ = trained
    (tmp_path / 'junk.ts').write_bytes(b'not a model')
    code = train.main(['--data', str(data), '--out', str(tmp_path / 'run')]
                      + _sets(f'init_from={tmp_path / name}'))
    err = capsys.readouterr().err
    assert code == 2 and 'error:' in err and message in err and 'Traceback' not in err
    assert not (tmp_path / 'run' / 'checkpoints').exists()


def test_a_translate_run_refuses_init_from(trained, tmp_path, capsys):
    _, checkpoint = trained
    config = REPO_ROOT / 'config' / 'translate_stalks.yaml'
    code = train.main(['--config', str(config), '--data', str(tmp_path), '--out',
                       str(tmp_path / 'run'), '--set', f'init_from={checkpoint}'])
    assert code == 2 and 'config key "init_from": depth runs only' in capsys.readouterr().err
