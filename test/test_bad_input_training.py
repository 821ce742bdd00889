# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Bad input to the training-side console scripts: ``error: ...``, exit 2, nothing left.

Each case runs the real console script in a subprocess and checks the exit code, that
the message names the problem, that there is no traceback, and that no partial output
remains (or that a good file already there is unchanged). A full disk is a real write
failure: the child process runs under a small ``RLIMIT_FSIZE``, so the kernel refuses
writes past it (EFBIG) as it refuses them on a full disk (ENOSPC).
"""

import contextlib
import functools
import importlib
import io
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys

import cv2
import numpy as np
import pytest
from sorghum_depth_training.data.bag_io import camera_info, StereoBagWriter
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.export import main as export
from sorghum_depth_training.loop import config
from sorghum_depth_training.loop import train
from sorghum_depth_training.loop.config import ConfigError, load_config, TrainConfig
import torch
import yaml

TINY = ['--set', 'batch_size=2', '--set', 'data.height=64', '--set', 'data.width=128',
        '--set', 'generator.encoder=unet', '--set', 'loss.w_hint=0',
        '--set', 'generator.enc_channels=[4,8,8,8,8,8]',
        '--set', 'generator.dec_channels=[4,8,8,8,8,8]',
        '--set', 'discriminator.base_channels=4', '--set', 'data.num_workers=0',
        '--set', 'image_every=0', '--set', 'max_steps=1']


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    """Return a six-pair 128x64 synthetic dataset and its MCAP bag: (folder, bag)."""
    root = tmp_path_factory.mktemp('data')
    write_synthetic(root / 'ds', count=6, seed=1, width=128, height=64,
                    bag_path=root / 'bag')
    return root / 'ds', root / 'bag'


@pytest.fixture(scope='module')
def checkpoint(dataset, tmp_path_factory):
    """Return the checkpoint of a one-step run on ``dataset``."""
    run = tmp_path_factory.mktemp('run')
    assert train.main(['--data', str(dataset[0]), '--out', str(run), *TINY]) == 0
    return run / 'checkpoints' / 'last.pt'


@pytest.fixture(scope='module')
def good_model(checkpoint, tmp_path_factory):
    """Return the bytes of a good export of ``checkpoint``."""
    path = tmp_path_factory.mktemp('model') / 'model.ts'
    export.export(checkpoint, path)
    return path.read_bytes()


def _limit_file_size(limit_bytes: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def _cli(module: str, *args, file_limit_bytes: int | None = None, in_process: bool = False):
    """
    Run console script ``module`` with ``args``; return its exit code and output.

    ``in_process`` calls the same ``main()`` in this process (no 2-4 s torch import): used
    for the cases beyond one or two per script and option family, to keep the file fast.
    """
    if in_process:
        err, out = io.StringIO(), io.StringIO()
        main = importlib.import_module(f'sorghum_depth_training.{module}').main
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:          # argparse errors
                code = exc.code
        return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
    pre = None if file_limit_bytes is None else functools.partial(_limit_file_size,
                                                                  file_limit_bytes)
    return subprocess.run([sys.executable, '-m', f'sorghum_depth_training.{module}',
                           *map(str, args)], capture_output=True, text=True, timeout=300,
                          preexec_fn=pre)


def _assert_error(result, *needles: str) -> None:
    """Exit 2, an ``error:`` line naming each of ``needles``, no traceback."""
    assert 'Traceback' not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines()
             if ln.startswith('error:') or ': error: ' in ln]   # argparse: 'prog: error:'

    assert lines, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def _checkpoint_with(checkpoint, path, **calibration):
    state = torch.load(checkpoint, weights_only=True)
    state['calibration'].update(calibration)
    torch.save(state, path)
    return path


# -- export ------------------------------------------------------------------------------

def test_export_on_a_full_disk_keeps_the_good_model(checkpoint, good_model, tmp_path):
    out = tmp_path / 'model.ts'
    out.write_bytes(good_model)
    result = _cli('export.main', checkpoint, out, file_limit_bytes=len(good_model) // 3)
    _assert_error(result, 'cannot write', str(out))
    assert out.read_bytes() == good_model
    assert [p.name for p in tmp_path.iterdir()] == ['model.ts']


def test_exported_models_are_readable_by_the_robot_user(checkpoint, tmp_path):
    # The node often runs as another user than the trainer: the model file follows the
    # umask like any file, not mkstemp's private 0600.
    out = tmp_path / 'model.ts'
    old = os.umask(0o022)
    try:
        export.export(checkpoint, out)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_exported_onnx_models_are_readable_by_the_robot_user(tiny_exports):
    # conftest's shared export (one ONNX export takes 30-40 s), written under umask 022
    assert [stat.S_IMODE(p.stat().st_mode) for p in tiny_exports] == [0o644] * 2


def test_export_tolerance_failure_keeps_the_old_model(checkpoint, tmp_path):
    out = tmp_path / 'model.ts'
    with pytest.raises(export.ToleranceError, match='left as it was'):
        export.export(checkpoint, out, tolerance_px=-1.0)
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b'the old model')
    with pytest.raises(export.ToleranceError):
        export.export(checkpoint, out, tolerance_px=-1.0)
    assert out.read_bytes() == b'the old model'
    assert [p.name for p in tmp_path.iterdir()] == ['model.ts']


@pytest.mark.parametrize('baseline_m', [0.0, -0.12, float('nan')])
def test_export_refuses_a_non_positive_baseline(checkpoint, tmp_path, baseline_m):
    bad = _checkpoint_with(checkpoint, tmp_path / 'bad.pt', baseline_m=baseline_m)
    result = _cli('export.main', bad, tmp_path / 'model.ts', in_process=baseline_m != 0.0)
    _assert_error(result, 'baseline_m')
    assert not (tmp_path / 'model.ts').exists()


@pytest.mark.parametrize('damage', ['unknown encoder', 'weights of another shape'])
def test_export_refuses_a_checkpoint_of_no_generator(checkpoint, tmp_path, damage):
    state = torch.load(checkpoint, weights_only=True)
    if damage == 'unknown encoder':
        state['model']['generator']['encoder'] = 'vgg'
    else:
        key = next(iter(state['generator']))
        state['generator'][key] = state['generator'][key][:1]
    torch.save(state, tmp_path / 'bad.pt')
    _assert_error(_cli('export.main', tmp_path / 'bad.pt', tmp_path / 'model.ts',
                       in_process=damage != 'unknown encoder'), 'does not describe a generator')
    assert not (tmp_path / 'model.ts').exists()


@pytest.mark.parametrize('case', ['out is a folder', 'out parent is a file',
                                  '0-byte checkpoint', 'negative tolerance'])
def test_export_bad_paths(checkpoint, good_model, tmp_path, case):
    out, ckpt, extra = tmp_path / 'model.ts', checkpoint, []
    if case == 'out is a folder':
        out.mkdir()
    elif case == 'out parent is a file':
        (tmp_path / 'file').write_text('x')
        out = tmp_path / 'file' / 'model.ts'
    elif case == '0-byte checkpoint':
        ckpt = tmp_path / 'empty.pt'
        ckpt.write_bytes(b'')
    else:
        out.write_bytes(good_model)
        extra = ['--tolerance', '-1']
    before = sorted(p.name for p in tmp_path.iterdir())
    in_process = case in ('out parent is a file', '0-byte checkpoint')
    _assert_error(_cli('export.main', ckpt, out, *extra, in_process=in_process),
                  {'out is a folder': 'folder', 'out parent is a file': 'file',
                   '0-byte checkpoint': 'empty.pt', 'negative tolerance': 'tolerance'}[case])
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if case == 'negative tolerance':
        assert out.read_bytes() == good_model


# -- training configuration ----------------------------------------------------------------

BAD_VALUES = [
    ('batch_size=2.7', 'batch_size'), ('batch_size=true', 'batch_size'),
    ('max_steps=1.5', 'max_steps'), ('generator.num_scales=2.5', 'num_scales'),
    ('data.height=-64', 'data.height'), ('data.width=0', 'data.width'),
    ('optim.lr_g=-1', 'optim.lr_g'), ('optim.lr_g=.nan', 'optim.lr_g'),
    ('optim.lr_d=0', 'optim.lr_d'), ('optim.betas_g=[0.9]', 'optim.betas_g'),
    ('optim.betas_d=[0.5,1.5]', 'optim.betas_d'), ('loss.gan_mode=foo', 'loss.gan_mode'),
    ('augment.gamma=[1.2,0.8]', 'augment.gamma'), ('augment.flip_prob=2', 'flip_prob'),
    ('augment.brightness=[0,2]', 'augment.brightness'), ('augment.colour=[1,2,3]', 'colour'),
    ('loss.alpha_ssim=2', 'alpha_ssim'), ('loss.w_lr=-1', 'loss.w_lr'),
    ('loss.w_smooth=.nan', 'loss.w_smooth'), ('max_minutes=.nan', 'max_minutes'),
    ('checkpoint_minutes=.inf', 'checkpoint_minutes'), ('seed=-1', 'seed'),
    ('generator.dec_channels=[4,0,8,8,8,8]', 'dec_channels'),
    ('discriminator.base_channels=0', 'base_channels'), ('generator.image_std=0', 'image_std'),
    ('generator.init_disp_frac=0.5', 'init_disp_frac'), ('data.dirs=abc', 'data.dirs'),
    ('clock=1', 'clock'), ('loss.full_res=1', 'full_res'), ('image_every=-1', 'image_every'),
    ('loss.hint_gate=never', 'loss.hint_gate'),
]


@pytest.mark.parametrize('override,key', BAD_VALUES)
def test_every_config_value_is_range_checked(override, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_config(None, [override])


def test_every_numeric_config_key_has_a_range():
    def leaves(values, prefix=''):
        for name, value in values.items():
            if isinstance(value, dict):
                yield from leaves(value, f'{prefix}{name}.')
            else:
                yield f'{prefix}{name}', value
    numeric = {key for key, value in leaves(TrainConfig().to_dict())
               if not isinstance(value, (bool, str)) and (
                   isinstance(value, (int, float)) or all(
                       isinstance(v, (int, float)) for v in value)) and key != 'data.dirs'}
    ranges = set(getattr(config, 'RANGES', ()))
    assert numeric <= ranges, sorted(numeric - ranges)


def test_whole_numbers_written_as_floats_are_accepted():
    assert load_config(None, ['batch_size=8.0']).batch_size == 8


@pytest.mark.parametrize('case', ['missing config', 'config not YAML', 'config is a list',
                                  'unknown key', 'batch_size=2.7', 'lr_g=nan'])
def test_train_bad_config(dataset, tmp_path, case):
    config_path = tmp_path / 'train.yaml'
    content = {'config not YAML': b'\x00\xff: [unclosed', 'config is a list': b'- 1\n',
               'unknown key': b'optim:\n  lr_x: 1\n', 'batch_size=2.7': b'batch_size: 2.7\n',
               'lr_g=nan': b'optim: {lr_g: .nan}\n'}.get(case)
    if content is not None:
        config_path.write_bytes(content)
    result = _cli('loop.train', '--config', config_path, '--data', dataset[0],
                  '--out', tmp_path / 'run',
                  in_process=case in ('missing config', 'config is a list', 'lr_g=nan'))
    _assert_error(result, {'missing config': 'train.yaml', 'config not YAML': 'train.yaml',
                           'config is a list': 'mapping', 'unknown key': 'optim.lr_x',
                           'batch_size=2.7': 'batch_size', 'lr_g=nan': 'optim.lr_g'}[case])
    assert not (tmp_path / 'run').exists()


# -- datasets ------------------------------------------------------------------------------

def _copy(dataset, tmp_path):
    root = tmp_path / 'ds'
    shutil.copytree(dataset[0], root)
    return root


def test_train_skips_a_corrupt_image_with_a_warning(dataset, tmp_path):
    root = _copy(dataset, tmp_path)
    (root / 'left' / '000002.png').write_bytes(b'not a png')
    result = _cli('loop.train', '--data', root, '--out', tmp_path / 'run', *TINY, in_process=True)
    assert result.returncode == 0, result.stderr
    assert 'Traceback' not in result.stderr
    assert 'warning:' in result.stderr and '000002.png' in result.stderr
    assert '1 of 6 pairs skipped' in result.stderr


@pytest.mark.parametrize('key,value', [('baseline_m', 0.0), ('baseline_m', float('nan')),
                                       ('fx', 0.0)])
def test_train_refuses_a_calibration_without_depth(dataset, tmp_path, key, value):
    root = _copy(dataset, tmp_path)
    calib = yaml.safe_load((root / 'calibration.yaml').read_text())
    calib[key] = value
    (root / 'calibration.yaml').write_text(yaml.safe_dump(calib))
    _assert_error(_cli('loop.train', '--data', root, '--out', tmp_path / 'run', *TINY,
                       in_process=value != 0.0 or key != 'baseline_m'), key)
    assert not (tmp_path / 'run').exists()


# -- training command line -----------------------------------------------------------------

@pytest.mark.parametrize('case', ['out is a file', 'out parent is a file', 'disk full'])
def test_train_bad_run_folder(dataset, tmp_path, case):
    out, limit = tmp_path / 'run', None
    if case == 'out is a file':
        out.write_text('x')
    elif case == 'out parent is a file':
        (tmp_path / 'file').write_text('x')
        out = tmp_path / 'file' / 'run'
    else:
        limit = 20_000
    result = _cli('loop.train', '--data', dataset[0], '--out', out, *TINY, file_limit_bytes=limit,
                  in_process=case == 'out parent is a file')
    _assert_error(result, str(out))
    if case == 'disk full':
        assert 'cannot write' in result.stderr
        assert not list(tmp_path.rglob('*.tmp'))
    else:
        assert out.is_file() or out.parent.is_file()


# -- extraction, import, synthetic data, quickstart ------------------------------------------

def _plain_pairs(tmp_path):
    src = tmp_path / 'src'
    rng = np.random.default_rng(0)
    for side in ('left', 'right'):
        (src / side).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(src / side / f'{i:03d}.png'),
                        rng.integers(0, 256, (32, 64, 3), dtype=np.uint8))
    return src


def _setup(case: str, tmp_path, dataset):
    """Return (module, arguments, needle) of one bad-input case of a fast CLI."""
    out, bag = tmp_path / 'out', dataset[1]
    (tmp_path / 'file').write_text('x')
    under_file = tmp_path / 'file' / 'out'
    kitti = tmp_path / 'kitti'
    for sub in ('image_l', 'image_r'):
        (kitti / sub).mkdir(parents=True)
    (kitti / 'calib.txt').write_bytes(b'\xff\xfe\x00 not text')
    (tmp_path / 'notabag').mkdir()
    (tmp_path / 'notabag' / 'readme.txt').write_text('x')
    plain = [_plain_pairs(tmp_path), '-o', out, '--fx', '50', '--baseline', '0.1']
    synth = [out, '--count', '2', '--width', '64', '--height', '64']
    return {
        'extract: not a bag': ('data.extract', [tmp_path / 'notabag', '-o', out], 'notabag'),
        'extract: --tolerance nan': ('data.extract', [bag, '-o', out, '--tolerance', 'nan'],
                                     'tolerance'),
        'extract: --fx 0': ('data.extract', [bag, '-o', out, '--fx', '0', '--baseline', '.1'],
                            '--fx'),
        'extract: --baseline -1': ('data.extract',
                                   [bag, '-o', out, '--fx', '9', '--baseline', '-1'],
                                   '--baseline'),
        'extract: out under a file': ('data.extract', [bag, '-o', under_file], str(under_file)),
        'import: --size 0x0': ('data.folder_import', plain + ['--size', '0x0'], 'size'),
        'import: --fx inf': ('data.folder_import', plain + ['--fx', 'inf'], 'fx'),
        'import: calib.txt not text': ('data.folder_import', [kitti, '-o', out], 'calib.txt'),
        'import: out under a file': ('data.folder_import', [*plain[:1], '-o', under_file,
                                                            *plain[3:]], str(under_file)),
        'synth: --fx 0': ('data.synthetic', synth + ['--fx', '0'], '--fx'),
        'synth: --fx nan': ('data.synthetic', synth + ['--fx', 'nan'], '--fx'),
        'synth: --baseline nan': ('data.synthetic', synth + ['--baseline', 'nan'], '--baseline'),
        'synth: out under a file': ('data.synthetic', [under_file, *synth[1:]], str(under_file)),
        'synth: --bag under a file': ('data.synthetic', synth + ['--bag', under_file],
                                      str(under_file)),
        'synth: --seed -1': ('data.synthetic', synth + ['--seed', '-1'], '--seed'),
        'extract: --start 1e300': ('data.extract', [bag, '-o', out, '--start', '1e300'],
                                   '--start'),
    }[case]


FAST_CASES = ['extract: not a bag', 'extract: --tolerance nan', 'extract: --fx 0',
              'extract: --baseline -1', 'extract: out under a file', 'import: --size 0x0',
              'import: --fx inf', 'import: calib.txt not text', 'import: out under a file',
              'synth: --fx 0', 'synth: --fx nan', 'synth: --baseline nan',
              'synth: out under a file', 'synth: --bag under a file', 'synth: --seed -1',
              'extract: --start 1e300']


@pytest.mark.parametrize('case', FAST_CASES)
def test_data_tools_bad_input(dataset, tmp_path, case):
    module, args, needle = _setup(case, tmp_path, dataset)
    before = sorted(p.name for p in tmp_path.iterdir())
    _assert_error(_cli(module, *args), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == before, 'partial output left'


@pytest.mark.parametrize('module', ['data.extract', 'data.folder_import', 'data.synthetic'])
def test_data_tools_on_a_full_disk_leave_nothing(dataset, tmp_path, module):
    out = tmp_path / 'out'
    args = {'data.extract': [dataset[1], '-o', out],
            'data.folder_import': [_plain_pairs(tmp_path), '-o', out, '--fx', '50',
                                   '--baseline', '0.1'],
            'data.synthetic': [out, '--count', '2', '--width', '64', '--height', '64', '--bag',
                               tmp_path / 'bag']}[module]
    before = sorted(p.name for p in tmp_path.iterdir())
    _assert_error(_cli(module, *args, file_limit_bytes=4000), 'write')
    assert sorted(p.name for p in tmp_path.iterdir()) == before, 'partial output left'


@pytest.mark.parametrize('case', ['--steps 0', '--size 0 0', '--w-gan -1', '--left only',
                                  '--out is a file', '--out under a file'])
def test_quickstart_bad_input(tmp_path, case):
    left, right = tmp_path / 'l.png', tmp_path / 'r.png'
    for path in (left, right):
        cv2.imwrite(str(path), np.full((64, 128, 3), 128, np.uint8))
    out = tmp_path / 'out'
    args = ['--left', left, '--right', right, '--out', out, '--steps', '1', '--size', '64',
            '128']
    extra = {'--steps 0': ['--steps', '0'], '--size 0 0': ['--size', '0', '0'],
             '--w-gan -1': ['--w-gan', '-1'], '--left only': [],
             '--out is a file': [], '--out under a file': []}[case]
    if case == '--left only':
        args = args[:2] + args[4:]
    if case == '--out is a file':
        out.write_text('x')
    if case == '--out under a file':
        (tmp_path / 'file').write_text('x')
        args[5] = tmp_path / 'file' / 'out'
    before = sorted(p.name for p in tmp_path.iterdir())
    in_process = case in ('--size 0 0', '--w-gan -1', '--out is a file')
    _assert_error(_cli('loop.quickstart', *args, *extra, in_process=in_process), case.split()[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize('tx_m', [0.0, -0.1, float('inf')])
def test_extract_refuses_a_baseline_without_depth(tmp_path, tx_m):
    rng = np.random.default_rng(2)
    infos = (camera_info(64, 32, 40.0, 40.0, 31.5, 15.5),
             camera_info(64, 32, 40.0, 40.0, 31.5, 15.5, tx_m))
    with StereoBagWriter(tmp_path / 'bag', 'mcap') as bag:
        for i in range(3):
            bag.write_pair(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8),
                           rng.integers(0, 256, (32, 64, 3), dtype=np.uint8),
                           10**18 + i * 10**8, infos)
    _assert_error(_cli('data.extract', tmp_path / 'bag', '-o', tmp_path / 'out'), 'baseline')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bag']


def test_export_removes_the_temporary_file_of_a_killed_export(checkpoint, tmp_path):
    dead = tmp_path / '.model.ts.999999999.x1.tmp'       # no such process runs
    dead.write_bytes(b'half a model')
    live = tmp_path / f'.model.ts.{os.getpid()}.x2.tmp'  # another export, still running
    live.write_bytes(b'being written')
    export.export(checkpoint, tmp_path / 'model.ts')
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, 'model.ts']
