# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Bad input to ``sorghum-depth-evaluate``: exit 2, an ``error:`` line, no output left.

Each case builds its input on the real filesystem and runs the CLI in a fresh
interpreter, as a user would. It asserts exit code 2, an ``error:`` line naming the
problem, no traceback, and that the output folder holds nothing new (an output folder
that existed keeps its old files untouched).
"""

import os
from pathlib import Path
import subprocess
import sys

from conftest import REPO_ROOT
import cv2
import numpy as np
import pytest

OLD_REPORT = b'{"old": "results"}\n'


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run sorghum-depth-evaluate with ``args`` in a fresh interpreter."""
    return subprocess.run([sys.executable, '-m', 'sorghum_depth_training.evaluation.evaluate',
                           *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def plain_folder(root: Path, names=('a',), size=(24, 32), gt_suffix='.npy') -> Path:
    """Write a valid left/ right/ gt/ folder of textured pairs; return it."""
    rng = np.random.default_rng(0)
    for sub in ('left', 'right', 'gt'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name in names:
        image = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        cv2.imwrite(str(root / 'left' / f'{name}.png'), image)
        cv2.imwrite(str(root / 'right' / f'{name}.png'), np.roll(image, -2, axis=1))
        np.save(root / 'gt' / f'{name}.npy', np.full(size, 2.0, np.float32))
    return root


def _gt_file(tmp: Path, name: str, content: bytes) -> Path:
    data = plain_folder(tmp / 'd')
    (data / 'gt' / 'a.npy').unlink()
    (data / 'gt' / name).write_bytes(content)
    return data


def _read_only_dir(tmp: Path) -> Path:
    """Return a folder this process cannot write into (skip where there is none)."""
    ro = tmp / 'ro'
    ro.mkdir()
    ro.chmod(0o555)
    try:
        (ro / 'probe').mkdir()
    except OSError:
        return ro
    (ro / 'probe').rmdir()          # root writes anywhere: try a read-only file system
    for candidate in (Path('/sys'), Path('/proc/sys')):
        try:
            (candidate / 'sorghum_depth_probe').mkdir()
        except OSError:
            return candidate
        (candidate / 'sorghum_depth_probe').rmdir()
    pytest.skip('no read-only folder: this user can write everywhere')


def _second_pair_bad(tmp):
    data = plain_folder(tmp / 'd', names=('a', 'b'))
    np.save(data / 'gt' / 'b.npy', np.ones((5, 5), np.float32))
    return [str(data), '--sgbm'], 'b.npy: size 5x5 differs'


def _scale_against_info(tmp):
    data = plain_folder(tmp / 'd')
    (data / 'gt' / 'a.npy').unlink()
    cv2.imwrite(str(data / 'gt' / 'a.png'), np.full((24, 32), 8, np.uint8))
    (data / 'gt' / 'info.txt').write_text('4\n')
    return [str(data), '--sgbm', '--gt-scale', '8'], 'info.txt gives this scene the scale 4'


def _model_file(tmp, content):
    (tmp / 'model.ts').write_bytes(content)
    return [str(plain_folder(tmp / 'd')), '--model', str(tmp / 'model.ts')]


def _data_is_a_file(tmp):
    (tmp / 'f.txt').write_text('x')
    return [str(tmp / 'f.txt'), '--sgbm'], 'f.txt: not a folder'


def _no_pairs(tmp):
    (tmp / 'empty').mkdir()
    return [str(tmp / 'empty'), '--sgbm'], 'no stereo pairs'


def _no_gt_folder(tmp):
    data = plain_folder(tmp / 'd')
    (data / 'gt').rename(data / 'other')
    return [str(data), '--sgbm'], 'no gt/ folder'


def _gt_size(tmp):
    data = plain_folder(tmp / 'd')
    np.save(data / 'gt' / 'a.npy', np.ones((24, 33), np.float32))
    return [str(data), '--sgbm'], 'a.npy: size 33x24 differs'


def _mask_size(tmp):
    data = plain_folder(tmp / 'd')
    (data / 'nonocc').mkdir()
    cv2.imwrite(str(data / 'nonocc' / 'a.png'), np.zeros((3, 3), np.uint8))
    return [str(data), '--sgbm'], 'a.png: size 3x3 differs'


def _corrupt_image(tmp):
    data = plain_folder(tmp / 'd')
    (data / 'left' / 'a.png').write_bytes(b'\x89PNG\r\n\x1a\njunk')
    return [str(data), '--sgbm'], 'a.png: missing or unreadable image'


def _gt_array(tmp, array):
    data = plain_folder(tmp / 'd')
    np.save(data / 'gt' / 'a.npy', array)
    return [str(data), '--sgbm']


def _args(tmp, *args):
    return [str(plain_folder(tmp / 'd')), *args]


# id -> builder(tmp) returning (arguments without --out, expected text in the error line)
CASES = {
    'missing folder': lambda t: ([str(t / 'missing'), '--sgbm'],
                                 'missing: dataset folder not found'),
    'data is a file': _data_is_a_file,
    'folder with no pairs': _no_pairs,
    'left/ right/ without gt/': _no_gt_folder,
    'GT of another size': _gt_size,
    'mask of another size': _mask_size,
    '0-byte .npy GT': lambda t: ([str(_gt_file(t, 'a.npy', b'')), '--sgbm'],
                                 'a.npy: empty file'),
    '0-byte .npz GT': lambda t: ([str(_gt_file(t, 'a.npz', b'')), '--sgbm'],
                                 'a.npz: empty file'),
    'corrupt .npz GT': lambda t: ([str(_gt_file(t, 'a.npz', b'PK\x03\x04junk')), '--sgbm'],
                                  'a.npz: not a NumPy .npz'),
    'corrupt PNG GT': lambda t: ([str(_gt_file(t, 'a.png', b'\x89PNG\r\n\x1a\njunk')),
                                 '--sgbm'], 'a.png: unreadable PNG'),
    'corrupt PNG image': _corrupt_image,
    'GT without one valid pixel': lambda t: (
        _gt_array(t, np.full((24, 32), np.nan, np.float32)),
        'no pair has a valid ground-truth pixel'),
    'complex GT': lambda t: (_gt_array(t, np.ones((24, 32), np.complex64)),
                             'a.npy: GT disparity must be one real numeric channel'),
    'second pair bad: nothing written': _second_pair_bad,
    '--gt-scale against info.txt': _scale_against_info,
    '--gt-scale nan': lambda t: (_args(t, '--sgbm', '--gt-scale', 'nan'),
                                 '--gt-scale must be a finite number > 0'),
    '--gt-scale 0': lambda t: (_args(t, '--sgbm', '--gt-scale', '0'),
                               '--gt-scale must be a finite number > 0'),
    'unknown option --method': lambda t: (_args(t, '--sgbm', '--method', 'x'),
                                          'unrecognized arguments: --method'),
    'unknown alignment': lambda t: (_args(t, '--sgbm', '--align', 'best'),
                                    "invalid choice: 'best'"),
    'no method': lambda t: (_args(t), 'one of the arguments'),
    '--sgbm with --no-sgbm': lambda t: (_args(t, '--sgbm', '--no-sgbm'),
                                        '--no-sgbm contradicts --sgbm'),
    'model file missing': lambda t: (_args(t, '--model', str(t / 'none.ts')),
                                     'none.ts: model file not found'),
    'model file not a model': lambda t: (_model_file(t, b'not a model'),
                                         'model.ts: cannot load model'),
    '0-byte model file': lambda t: (_model_file(t, b''), 'model.ts: cannot load model'),
}


def _check(r: subprocess.CompletedProcess, message: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert 'Traceback' not in r.stderr, r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if 'error:' in line]
    assert errors and any(message in line for line in errors), r.stderr[-2000:]


@pytest.mark.parametrize('case', list(CASES))
def test_bad_input_exits_2_with_a_named_error_and_no_output(tmp_path, case):
    args, message = CASES[case](tmp_path)
    out = tmp_path / 'parent' / 'eval'
    r = cli(*args, '--out', str(out))
    _check(r, message)
    assert not (tmp_path / 'parent').exists(), 'a failed run must leave no output'


def test_failed_run_keeps_an_existing_output_folder_untouched(tmp_path):
    out = tmp_path / 'eval'
    (out / 'panels').mkdir(parents=True)
    (out / 'metrics.json').write_bytes(OLD_REPORT)
    (out / 'panels' / 'old.png').write_bytes(b'old')
    args, message = _second_pair_bad(tmp_path)
    _check(cli(*args, '--out', str(out)), message)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob('*')) == [
        'metrics.json', 'panels', 'panels/old.png']
    assert (out / 'metrics.json').read_bytes() == OLD_REPORT
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')], 'staging left'


def test_out_is_a_file(tmp_path):
    out = tmp_path / 'eval'
    out.write_bytes(OLD_REPORT)
    _check(cli(str(plain_folder(tmp_path / 'd')), '--sgbm', '--out', str(out)),
           'eval: --out is a file, not a folder')
    assert out.read_bytes() == OLD_REPORT


def test_read_only_output(tmp_path):
    ro = _read_only_dir(tmp_path)
    try:
        out = ro / 'sorghum_depth_eval'
        r = cli(str(plain_folder(tmp_path / 'd')), '--sgbm', '--out', str(out))
        _check(r, 'cannot write the output folder')
        assert not out.exists()
    finally:
        if ro.is_relative_to(tmp_path):
            ro.chmod(0o755)


def test_good_run_after_the_checks_writes_every_output(tmp_path):
    out = tmp_path / 'new' / 'eval'
    r = cli(str(plain_folder(tmp_path / 'd', names=('a', 'b'))), '--sgbm', '--out', str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob('*')) == [
        'metrics.json', 'metrics.md', 'panels', 'panels/d__a.png', 'panels/d__b.png']
    assert not [p for p in (tmp_path / 'new').iterdir() if p.name != 'eval']
    assert os.access(out / 'metrics.json', os.R_OK)


def test_staging_left_by_a_killed_run_is_removed_by_the_next_run(tmp_path):
    # A run killed with SIGKILL cannot clean up: its staging folder names its process id,
    # and the next run into the same --out removes it once that process is gone.
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f'.eval.partial-{dead}-x1y2'
    (stale / 'panels').mkdir(parents=True)
    (stale / 'metrics.json').write_bytes(OLD_REPORT)
    alive = tmp_path / f'.eval.partial-{os.getpid()}-x1y2'   # a run still going: kept
    alive.mkdir()
    out = tmp_path / 'eval'
    r = cli(str(plain_folder(tmp_path / 'd')), '--sgbm', '--no-panels', '--out', str(out))
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and alive.is_dir()
    assert sorted(p.name for p in out.iterdir()) == ['metrics.json', 'metrics.md']
